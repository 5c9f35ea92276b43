# Cross-encoder stage: a reranker trained by the pipeline on a BEIR training split (or a given one,
# cross_encoder.id), reranking the BM25 run of each configured dataset; table next to the first stages.


include: "cross_encoder_functions.smk"


rule cross_encoder_train:
    input:
        manifest=ce_train_data,
    output:
        model=directory("results/cross_encoder/{ce}/model"),
    log:
        "results/logs/cross_encoder/train/{ce}.log",
    benchmark:
        "results/benchmarks/cross_encoder/train/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    priority: CRITICAL_PATH
    conda:
        "../../envs/training.yaml"
    threads: CE_THREADS
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=gpus(),
    params:
        args=ce_train_args,
    shell:
        "irlens cross-encoder train {params.args} --threads {threads} --out {output.model} > {log} 2>&1"


rule cross_encoder_rerank:
    input:
        manifest="results/data/{dataset}/manifest.json",
        run="results/retrieval/{dataset}/bm25/run.trec",
        model=ce_model_input,
    output:
        run="results/rerank/{dataset}/{ce}/run.trec",
        metrics="results/rerank/{dataset}/{ce}/metrics.json",
        per_query="results/rerank/{dataset}/{ce}/per_query.tsv",
    log:
        "results/logs/cross_encoder/rerank/{dataset}/{ce}.log",
    benchmark:
        "results/benchmarks/cross_encoder/rerank/{dataset}/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/training.yaml"
    threads: CE_THREADS
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=gpus(),
    params:
        args=ce_rerank_args,
        split=eval_split,
    shell:
        "irlens cross-encoder rerank {params.args} --data results/data/{wildcards.dataset} --dataset {wildcards.dataset} "
        "--split {params.split} --run {input.run} --threads {threads} --out-run {output.run} --out {output.metrics} "
        "--per-query {output.per_query} > {log} 2>&1"


rule cross_encoder_table:
    input:
        metrics=ce_table_metrics(),
    output:
        md=report(
            "reports/tables/cross_encoder/rerank.md",
            caption="../report/cross_encoder.rst",
            category="Cross-encoder",
            labels={"table": "rerank (markdown)"},
        ),
        csv=report(
            "reports/tables/cross_encoder/rerank.csv",
            caption="../report/cross_encoder.rst",
            category="Cross-encoder",
            labels={"table": "rerank (CSV)"},
        ),
    log:
        "results/logs/cross_encoder/table.log",
    benchmark:
        "results/benchmarks/cross_encoder/table.tsv"
    conda:
        "../../envs/training.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        in_domain=ce_in_domain(),
    shell:
        "irlens cross-encoder table --metrics {input.metrics} --in-domain {params.in_domain} "
        "--md {output.md} --csv {output.csv} > {log} 2>&1"
