# GPL domain adaptation (issue 7; notes/gpl-and-bi-encoder-ig.md §1), one rule per step and per
# (base model, target dataset): pseudo-queries -> hard negatives -> teacher margins -> MarginMSE training.
# The adapted model lands in results/gpl/<base>-<dataset>/model; listed under `models` (id = that folder)
# it is encoded, retrieved, evaluated and attributed (IG) like any other model, and gpl_evaluate
# compares it with its base per query (paired t-test).
# Helper functions: the GPL block of common.smk.


rule gpl_queries:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
    output:
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
    params:
        args=gpl_queries_args,
    log:
        "results/logs/gpl/queries/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/queries/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1 if GPL_Q.get("backend") == "t5" and str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl queries {params.args} --data results/data/{wildcards.dataset} --threads {threads} "
        "--out-queries {output.queries} --out-qrels {output.qrels} > {log} 2>&1"


rule gpl_negatives:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
        corpus_emb=gpl_corpus_emb,
    output:
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
    params:
        args=gpl_negatives_args,
    log:
        "results/logs/gpl/negatives/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/negatives/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1 if str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl negatives {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--qrels {input.qrels} --threads {threads} --out {output.negatives} > {log} 2>&1"


rule gpl_pseudo_labels:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
        teacher=gpl_teacher_input,
    output:
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    params:
        args=gpl_pseudo_labels_args,
    log:
        "results/logs/gpl/pseudo_labels/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/pseudo_labels/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1 if str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl pseudo-labels {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--negatives {input.negatives} --threads {threads} --out {output.data} > {log} 2>&1"


rule gpl_train:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    output:
        model=directory("results/gpl/{base}-{dataset}/model"),
    params:
        args=gpl_train_args,
    log:
        "results/logs/gpl/train/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/train/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=1 if str(GPL_TRAIN.get("device", "cpu")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl train {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--training-data {input.data} --threads {threads} --out {output.model} > {log} 2>&1"


rule gpl_evaluate:
    input:
        per_query=gpl_evaluate_inputs(),
    output:
        md=report(
            "reports/tables/gpl/base-vs-adapted.md",
            caption="../report/gpl.rst",
            category="GPL (domain adaptation)",
            labels={"table": "base vs adapted"},
        ),
        csv="reports/tables/gpl/base-vs-adapted.csv",
    params:
        args=gpl_evaluate_args(),
        metrics=" ".join(GPL.get("metrics", ["ndcg@10", "mrr@10", "recall@100"])),
    log:
        "results/logs/gpl/evaluate.log",
    benchmark:
        "results/benchmarks/gpl/evaluate.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl evaluate {params.args} --metrics {params.metrics} --md {output.md} --csv {output.csv} > {log} 2>&1"
