# Data stage: BEIR dataset -> results/data/{dataset}/ (normalised BEIR layout + manifest.json).


include: "data_functions.smk"


rule data:
    input:
        dataset_source_files,
    output:
        corpus="results/data/{dataset}/corpus.jsonl",
        queries="results/data/{dataset}/queries.jsonl",
        manifest="results/data/{dataset}/manifest.json",
        qrels=directory("results/data/{dataset}/qrels"),
    log:
        "results/logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        args=data_args,
    shell:
        "irlens data --dataset {wildcards.dataset} --out results/data/{wildcards.dataset} {params.args} > {log} 2>&1"
