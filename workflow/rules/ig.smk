# IG stage (arXiv 2501.14459): Integrated Gradients of the same (query, document) pairs for every compared
# model (union of their top-k and the judged relevant), sharded over queries; merged tables, baseline table,
# instance views, word clouds, title-share and in-domain-term tables, paired base-vs-adapted differences;
# faithfulness (deletion/insertion curves in IG's order vs gradient x input, attention rollout and random orders).


include: "ig_functions.smk"


rule ig_pairs:
    input:
        manifest="results/data/{dataset}/manifest.json",
        runs=lambda wc: expand("results/retrieval/{dataset}/{model}/run.trec", dataset=wc.dataset, model=IG_MODELS),
    output:
        "results/ig/pairs/{dataset}.parquet",
    log:
        "results/logs/ig/pairs/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/pairs/{dataset}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        runs=lambda wc, input: [f"{m}={r}" for m, r in zip(IG_MODELS, input.runs)],
        args=ig_pairs_args,
    shell:
        "irlens ig pairs --data results/data/{wildcards.dataset} --run {params.runs} {params.args} "
        "--out {output} > {log} 2>&1"


rule ig_attribute:
    input:
        manifest="results/data/{dataset}/manifest.json",
        run="results/retrieval/{dataset}/{model}/run.trec",
        pairs="results/ig/pairs/{dataset}.parquet",
    output:
        tokens="results/ig/{model}/{dataset}/shards/{shard}-of-{nshards}.tokens.parquet",
        words="results/ig/{model}/{dataset}/shards/{shard}-of-{nshards}.words.parquet",
        pairs="results/ig/{model}/{dataset}/shards/{shard}-of-{nshards}.pairs.parquet",
    log:
        "results/logs/ig/attribute/{model}/{dataset}/{shard}-of-{nshards}.log",
    benchmark:
        "results/benchmarks/ig/attribute/{model}/{dataset}/{shard}-of-{nshards}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../../envs/attribution.yaml"
    threads: IG["threads"]
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=gpus(),
    params:
        model=ig_model_args,
        ig=ig_attribute_args,
        prefix=subpath(output.pairs, strip_suffix=".pairs.parquet"),
    shell:
        "irlens ig attribute {params.model} {params.ig} --pairs {input.pairs} "
        "--shard {wildcards.shard} --shards {wildcards.nshards} "
        "--threads {threads} --out {params.prefix} > {log} 2>&1"


rule ig_merge:
    input:
        lambda wc: [f"{p}.{t}.parquet" for p in ig_shard_prefixes(wc) for t in ("tokens", "words", "pairs")],
    output:
        tokens="results/ig/{model}/{dataset}/all.tokens.parquet",
        words="results/ig/{model}/{dataset}/all.words.parquet",
        pairs="results/ig/{model}/{dataset}/all.pairs.parquet",
    log:
        "results/logs/ig/merge/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/merge/{model}/{dataset}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        shards=ig_shard_prefixes,
        prefix=subpath(output.pairs, strip_suffix=".pairs.parquet"),
    shell:
        "irlens ig merge --inputs {params.shards} --out {params.prefix} > {log} 2>&1"


rule ig_baselines:
    input:
        manifest="results/data/{dataset}/manifest.json",
        run="results/retrieval/{dataset}/{model}/run.trec",
    output:
        md=report(
            "reports/tables/ig/baselines-{model}-{dataset}.md",
            caption="../report/ig_baselines.rst",
            category="IG (bi-encoders)",
            subcategory="Baselines",
            labels={"model": "{model}", "dataset": "{dataset}", "table": "baselines"},
        ),
        csv="reports/tables/ig/baselines-{model}-{dataset}.csv",
    log:
        "results/logs/ig/baselines/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/baselines/{model}/{dataset}.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: IG["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=gpus(),
    params:
        model=ig_model_args,
        pairs=IG["baseline_pairs"],
    shell:
        "irlens ig baselines {params.model} --pairs {params.pairs} --threads {threads} "
        "--md {output.md} --csv {output.csv} > {log} 2>&1"


rule ig_views:
    input:
        pairs="results/ig/{model}/{dataset}/all.pairs.parquet",
        words="results/ig/{model}/{dataset}/all.words.parquet",
    output:
        html=report(
            "reports/ig/{model}/{dataset}/views.html",
            caption="../report/ig_views.rst",
            category="IG (bi-encoders)",
            subcategory="Instance views",
            labels={"model": "{model}", "dataset": "{dataset}", "figure": "views (HTML)"},
        ),
        png=[
            report(
                p,
                caption="../report/ig_views.rst",
                category="IG (bi-encoders)",
                subcategory="Instance views",
                labels={"model": "{model}", "dataset": "{dataset}", "figure": f"heatmap {i}"},
            )
            for i, p in enumerate(ig_heatmaps("{model}", "{dataset}"), 1)
        ],
        pdf=ig_heatmaps("{model}", "{dataset}", "pdf"),
    log:
        "results/logs/ig/views/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/views/{model}/{dataset}.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        prefix=subpath(input.pairs, strip_suffix=".pairs.parquet"),
    shell:
        "irlens ig views --ig {params.prefix} --label {wildcards.model} --dataset {wildcards.dataset} "
        "--html {output.html} --heatmaps {output.png} > {log} 2>&1"


rule ig_wordclouds:
    input:
        words=lambda wc: expand("results/ig/{model}/{dataset}/all.words.parquet", model=IG_MODELS, dataset=wc.dataset),
    output:
        png=[
            report(
                f"reports/figures/ig/{{dataset}}/wordcloud-{m}.png",
                caption="../report/ig_wordclouds.rst",
                category="IG (bi-encoders)",
                subcategory="Word clouds",
                labels={"model": m, "dataset": "{dataset}", "figure": "word clouds"},
            )
            for m in IG_MODELS
        ],
        pdf=[f"reports/figures/ig/{{dataset}}/wordcloud-{m}.pdf" for m in IG_MODELS],
        diff=[
            report(
                f"reports/figures/ig/{{dataset}}/wordcloud-diff-{m}.png",
                caption="../report/ig_wordclouds.rst",
                category="IG (bi-encoders)",
                subcategory="Word clouds",
                labels={"model": f"{m} - {IG_MODELS[0]}", "dataset": "{dataset}", "figure": "difference"},
            )
            for m in IG_MODELS[1:]
        ],
        diff_pdf=[f"reports/figures/ig/{{dataset}}/wordcloud-diff-{m}.pdf" for m in IG_MODELS[1:]],
    log:
        "results/logs/ig/wordclouds/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/wordclouds/{dataset}.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        prefixes=lambda wc, input: [p.removesuffix(".words.parquet") for p in input.words],
        labels=IG_MODELS,
        words=IG["wordcloud_words"],
        seed=config["seed"],
    shell:
        "irlens ig wordclouds --ig {params.prefixes} --labels {params.labels} --dataset {wildcards.dataset} "
        "--words {params.words} --seed {params.seed} --out {output.png} --diff-out {output.diff} > {log} 2>&1"


rule ig_tables:
    input:
        pairs=expand("results/ig/{model}/{dataset}/all.pairs.parquet", model=IG_MODELS, dataset=IG_DATASETS),
        words=expand("results/ig/{model}/{dataset}/all.words.parquet", model=IG_MODELS, dataset=IG_DATASETS),
        corpora=expand("results/data/{dataset}/corpus.jsonl", dataset=IG_DATASETS),
    output:
        completeness=report(
            "reports/tables/ig/completeness.md",
            caption="../report/ig_tables.rst",
            category="IG (bi-encoders)",
            subcategory="Tables",
            labels={"table": "completeness"},
        ),
        completeness_csv="reports/tables/ig/completeness.csv",
        title=report(
            "reports/tables/ig/title_share.md",
            caption="../report/ig_tables.rst",
            category="IG (bi-encoders)",
            subcategory="Tables",
            labels={"table": "title share"},
        ),
        title_csv="reports/tables/ig/title_share.csv",
        domain=report(
            "reports/tables/ig/domain_terms.md",
            caption="../report/ig_tables.rst",
            category="IG (bi-encoders)",
            subcategory="Tables",
            labels={"table": "in-domain terms"},
        ),
        domain_csv="reports/tables/ig/domain_terms.csv",
        vocab="reports/tables/ig/domain_terms_vocabulary.csv",
        paired=report(
            "reports/tables/ig/paired_differences.md",
            caption="../report/ig_tables.rst",
            category="IG (bi-encoders)",
            subcategory="Tables",
            labels={"table": "paired differences"},
        ),
        paired_csv="reports/tables/ig/paired_differences.csv",
    log:
        "results/logs/ig/tables.log",
    benchmark:
        "results/benchmarks/ig/tables.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        prefixes=lambda wc, input: [p.removesuffix(".pairs.parquet") for p in input.pairs],
        corpora=lambda wc, input: [f"{d}={c}" for d, c in zip(IG_DATASETS, input.corpora)],
        domain=ig_domain_args,
        bootstrap=IG["bootstrap"],
        seed=config["seed"],
    shell:
        "irlens ig tables --ig {params.prefixes} --corpus {params.corpora} {params.domain} "
        "--completeness reports/tables/ig/completeness --title-share reports/tables/ig/title_share "
        "--domain reports/tables/ig/domain_terms --paired reports/tables/ig/paired_differences "
        "--bootstrap {params.bootstrap} --seed {params.seed} > {log} 2>&1"


rule ig_faithfulness:
    input:
        manifest="results/data/{dataset}/manifest.json",
        pairs="results/ig/pairs/{dataset}.parquet",
        words="results/ig/{model}/{dataset}/all.words.parquet",
    output:
        curves="results/ig/{model}/{dataset}/faithfulness.curves.parquet",
        summary="results/ig/{model}/{dataset}/faithfulness.summary.parquet",
    log:
        "results/logs/ig/faithfulness/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/ig/faithfulness/{model}/{dataset}.tsv"
    priority: CRITICAL_PATH
    conda:
        "../../envs/attribution.yaml"
    threads: IG["threads"]
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=gpus(),
    params:
        args=ig_faithfulness_args,
        prefix=subpath(output.summary, strip_suffix=".summary.parquet"),
    shell:
        "irlens ig faithfulness {params.args} --pairs {input.pairs} --words {input.words} "
        "--threads {threads} --out {params.prefix} > {log} 2>&1"


rule ig_faithfulness_table:
    input:
        expand(
            "results/ig/{model}/{dataset}/faithfulness.summary.parquet",
            model=IG_MODELS,
            dataset=IG_DATASETS,
        ),
    output:
        md=report(
            "reports/tables/ig/faithfulness.md",
            caption="../report/ig_faithfulness.rst",
            category="IG (bi-encoders)",
            subcategory="Faithfulness",
            labels={"table": "faithfulness (AOPC)"},
        ),
        csv="reports/tables/ig/faithfulness.csv",
        png=report(
            "reports/figures/ig/faithfulness.png",
            caption="../report/ig_faithfulness.rst",
            category="IG (bi-encoders)",
            subcategory="Faithfulness",
            labels={"figure": "deletion / insertion curves"},
        ),
        pdf="reports/figures/ig/faithfulness.pdf",
    log:
        "results/logs/ig/faithfulness_table.log",
    benchmark:
        "results/benchmarks/ig/faithfulness_table.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        prefixes=lambda wc, input: [p.removesuffix(".summary.parquet") for p in input],
        bootstrap=IG["bootstrap"],
        seed=config["seed"],
    shell:
        "irlens ig faithfulness-table --inputs {params.prefixes} --bootstrap {params.bootstrap} --seed {params.seed} "
        "--md {output.md} --csv {output.csv} --figure {output.png} > {log} 2>&1"
