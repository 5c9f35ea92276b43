# Retrieval stage: embeddings cached once per (model, dataset), exact dense search, BM25, evaluation.


include: "retrieval_functions.smk"


rule encode:
    input:
        corpus="results/data/{dataset}/corpus.jsonl",
        queries="results/data/{dataset}/queries.jsonl",
        model=model_folder_input,
    output:
        emb="results/embeddings/{model}/{dataset}/{side}.npy",
        meta="results/embeddings/{model}/{dataset}/{side}.json",
    log:
        "results/logs/encode/{model}/{dataset}/{side}.log",
    benchmark:
        "results/benchmarks/encode/{model}/{dataset}/{side}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../../envs/retrieval.yaml"
    threads: ENCODE["threads"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=gpus(),
    params:
        args=encode_args,
    shell:
        "irlens retrieval encode --data results/data/{wildcards.dataset} --side {wildcards.side} {params.args} "
        "--threads {threads} --out {output.emb} > {log} 2>&1"


rule retrieve_dense:
    input:
        qrels="results/data/{dataset}/qrels",
        corpus_emb="results/embeddings/{retriever}/{dataset}/corpus.npy",
        query_emb="results/embeddings/{retriever}/{dataset}/queries.npy",
    output:
        run="results/retrieval/{dataset}/{retriever}/run.trec",
    log:
        "results/logs/retrieve/{dataset}/{retriever}.log",
    benchmark:
        "results/benchmarks/retrieve/{dataset}/{retriever}.tsv"
    wildcard_constraints:
        retriever="|".join(DENSE) if DENSE else "^$",
    priority: CRITICAL_PATH
    conda:
        "../../envs/retrieval.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        split=eval_split,
        k=config["retrieval"]["k"],
        score=lambda wc: model_cfg(wc.retriever)["score"],
    shell:
        "irlens retrieval retrieve --method dense --data results/data/{wildcards.dataset} --split {params.split} "
        "--corpus-emb {input.corpus_emb} --query-emb {input.query_emb} --score {params.score} --k {params.k} "
        "--threads {threads} --out {output.run} > {log} 2>&1"


rule retrieve_bm25:
    input:
        corpus="results/data/{dataset}/corpus.jsonl",
        qrels="results/data/{dataset}/qrels",
    output:
        run="results/retrieval/{dataset}/bm25/run.trec",
    log:
        "results/logs/retrieve/{dataset}/bm25.log",
    benchmark:
        "results/benchmarks/retrieve/{dataset}/bm25.tsv"
    conda:
        "../../envs/retrieval.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        split=eval_split,
        k=config["retrieval"]["k"],
        k1=BM25["k1"],
        b=BM25["b"],
        stemmer=quoted(BM25["stemmer"]),
    shell:
        "irlens retrieval retrieve --method bm25 --data results/data/{wildcards.dataset} --split {params.split} "
        "--k {params.k} --k1 {params.k1} --b {params.b} --stemmer {params.stemmer} --threads {threads} "
        "--out {output.run} > {log} 2>&1"


rule evaluate:
    input:
        run="results/retrieval/{dataset}/{retriever}/run.trec",
        qrels="results/data/{dataset}/qrels",
    output:
        metrics="results/retrieval/{dataset}/{retriever}/metrics.json",
        per_query="results/retrieval/{dataset}/{retriever}/per_query.tsv",
    log:
        "results/logs/evaluate/{dataset}/{retriever}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{retriever}.tsv"
    conda:
        "../../envs/retrieval.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        split=eval_split,
        label=retriever_label,
    shell:
        "irlens retrieval evaluate --data results/data/{wildcards.dataset} --split {params.split} --run {input.run} "
        "--dataset {wildcards.dataset} --retriever {wildcards.retriever} {params.label} "
        "--out {output.metrics} --per-query {output.per_query} > {log} 2>&1"
