# GPL domain adaptation (Wang et al., NAACL 2022), one rule per step and per
# (base model, target dataset): pseudo-queries -> hard negatives -> teacher margins -> MarginMSE training.
# Before labelling, gpl_teacher_check measures whether the teacher ranks better than the student
# (teacher-check.json; gpl.require_stronger_teacher stops the run when it does not).
# The adapted model lands in results/gpl/<base>-<dataset>/model; listed under `models` (id = that folder)
# it is encoded, retrieved, evaluated and attributed (IG) like any other model, and gpl_evaluate
# compares it with its base per query (paired t-test).
# Helper functions: gpl_functions.smk.


include: "gpl_functions.smk"


rule gpl_queries:
    input:
        manifest="results/data/{dataset}/manifest.json",
    output:
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
    log:
        "results/logs/gpl/queries/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/queries/{base}-{dataset}.tsv"
    wildcard_constraints:
        base=GPL_BASE_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: GPL["threads"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus() if GPL_Q["backend"] == "t5" else 0,
    params:
        args=gpl_queries_args,
    shell:
        "irlens gpl queries {params.args} --data results/data/{wildcards.dataset} --threads {threads} "
        "--out-queries {output.queries} --out-qrels {output.qrels} > {log} 2>&1"


rule gpl_negatives:
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
        corpus_emb=gpl_corpus_emb,
    output:
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
    log:
        "results/logs/gpl/negatives/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/negatives/{base}-{dataset}.tsv"
    wildcard_constraints:
        base=GPL_BASE_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: GPL["threads"]
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=gpus(),
    params:
        args=gpl_negatives_args,
    shell:
        "irlens gpl negatives {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--qrels {input.qrels} --threads {threads} --out {output.negatives} > {log} 2>&1"


rule gpl_teacher_check:
    input:
        manifest="results/data/{dataset}/manifest.json",
        corpus_emb="results/embeddings/{base}/{dataset}/corpus.npy",
        query_emb="results/embeddings/{base}/{dataset}/queries.npy",
        teacher=gpl_teacher_input,
    output:
        check="results/gpl/{base}-{dataset}/teacher-check.json",
    log:
        "results/logs/gpl/teacher_check/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/teacher_check/{base}-{dataset}.tsv"
    wildcard_constraints:
        base=GPL_BASE_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: GPL["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpus(),
    params:
        args=gpl_teacher_check_args,
    shell:
        "irlens gpl teacher-check {params.args} --data results/data/{wildcards.dataset} --dataset {wildcards.dataset} "
        "--corpus-emb {input.corpus_emb} --query-emb {input.query_emb} --threads {threads} --out {output.check} "
        "> {log} 2>&1"


rule gpl_pseudo_labels:
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
        check="results/gpl/{base}-{dataset}/teacher-check.json",
        teacher=gpl_teacher_input,
        corpus_emb=gpl_pseudo_labels_emb,
    output:
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    log:
        "results/logs/gpl/pseudo_labels/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/pseudo_labels/{base}-{dataset}.tsv"
    wildcard_constraints:
        base=GPL_BASE_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: GPL["threads"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus(),
    params:
        args=gpl_pseudo_labels_args,
    shell:
        "irlens gpl pseudo-labels {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--negatives {input.negatives} --teacher-check {input.check} --threads {threads} --out {output.data} "
        "> {log} 2>&1"


rule gpl_train:
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    output:
        model=directory("results/gpl/{base}-{dataset}/model"),
    log:
        "results/logs/gpl/train/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/train/{base}-{dataset}.tsv"
    wildcard_constraints:
        base=GPL_BASE_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: GPL["threads"]
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=gpus(GPL_TRAIN_DEVICE),
    params:
        args=gpl_train_args,
    shell:
        "irlens gpl train {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--training-data {input.data} --threads {threads} --out {output.model} > {log} 2>&1"


rule gpl_evaluate:
    input:
        per_query=gpl_evaluate_inputs(),
        checks=gpl_teacher_checks(),
    output:
        md=report(
            "reports/tables/gpl/base-vs-adapted.md",
            caption="../report/gpl.rst",
            category="GPL (domain adaptation)",
            labels={"table": "base vs adapted"},
        ),
        csv="reports/tables/gpl/base-vs-adapted.csv",
    log:
        "results/logs/gpl/evaluate.log",
    benchmark:
        "results/benchmarks/gpl/evaluate.tsv"
    conda:
        "../../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        args=gpl_evaluate_args(),
        metrics=" ".join(GPL["metrics"]),
    shell:
        "irlens gpl evaluate {params.args} --metrics {params.metrics} --md {output.md} --csv {output.csv} > {log} 2>&1"
