# NIG stage (arXiv 2406.19309): Neuron Integrated Gradients of every Linear output of the cross-encoder,
# per (dataset, label), sharded over pairs; merged sets, Table 1 (baselines), schemes, figures 2-4.


include: "nig_functions.smk"


rule nig_pairs:
    input:
        manifest="results/data/{dataset}/manifest.json",
        bm25="results/retrieval/{dataset}/bm25/run.trec",
        model=ce_model_input,
    output:
        pairs="results/nig/{ce}/{dataset}/pairs.parquet",
        selection="results/nig/{ce}/{dataset}/pairs.json",
    log:
        "results/logs/nig/pairs/{ce}/{dataset}.log",
    benchmark:
        "results/benchmarks/nig/pairs/{ce}/{dataset}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: NIG["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=gpus(),
    params:
        model=lambda wc: ce_model_args(),
        split=eval_split,
        n=NIG["pairs"],
        depth=NIG["negatives_depth"],
        seed=config["seed"],
    shell:
        "irlens nig pairs {params.model} --data results/data/{wildcards.dataset} --dataset {wildcards.dataset} "
        "--split {params.split} --bm25-run {input.bm25} --negatives-depth {params.depth} --pairs {params.n} "
        "--seed {params.seed} --threads {threads} --out {output.pairs} > {log} 2>&1"


rule nig_attribute:
    input:
        pairs="results/nig/{ce}/{dataset}/pairs.parquet",
        model=ce_model_input,
    output:
        values="results/nig/{ce}/{dataset}/{label}/shards/{shard}-of-{nshards}.npy",
        neurons="results/nig/{ce}/{dataset}/{label}/shards/{shard}-of-{nshards}.neurons.parquet",
        pairs="results/nig/{ce}/{dataset}/{label}/shards/{shard}-of-{nshards}.pairs.parquet",
    log:
        "results/logs/nig/attribute/{ce}/{dataset}/{label}/{shard}-of-{nshards}.log",
    benchmark:
        "results/benchmarks/nig/attribute/{ce}/{dataset}/{label}/{shard}-of-{nshards}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: NIG["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=gpus(),
    params:
        model=lambda wc: ce_model_args(),
        nig=nig_attribute_args,
        split=eval_split,
        prefix=subpath(output.pairs, strip_suffix=".pairs.parquet"),
    shell:
        "irlens nig attribute {params.model} {params.nig} --data results/data/{wildcards.dataset} "
        "--dataset {wildcards.dataset} --split {params.split} --pairs {input.pairs} --label {wildcards.label} "
        "--shard {wildcards.shard} --shards {wildcards.nshards} --threads {threads} --out {params.prefix} > {log} 2>&1"


rule nig_merge:
    input:
        lambda wc: [f"{p}.{ext}" for p in nig_shard_prefixes(wc) for ext in ("npy", "neurons.parquet", "pairs.parquet")],
    output:
        values="results/nig/{ce}/{dataset}/{label}/all.npy",
        neurons="results/nig/{ce}/{dataset}/{label}/all.neurons.parquet",
        pairs="results/nig/{ce}/{dataset}/{label}/all.pairs.parquet",
    log:
        "results/logs/nig/merge/{ce}/{dataset}/{label}.log",
    benchmark:
        "results/benchmarks/nig/merge/{ce}/{dataset}/{label}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        shards=nig_shard_prefixes,
        prefix=subpath(output.pairs, strip_suffix=".pairs.parquet"),
    shell:
        "irlens nig merge --inputs {params.shards} --out {params.prefix} > {log} 2>&1"


rule nig_baselines:
    input:
        pairs=expand("results/nig/{ce}/{dataset}/pairs.parquet", ce=CE_NAME, dataset=NIG_DATASETS),
        model=ce_model_input,
    output:
        md=report(
            "reports/tables/nig/baselines.md",
            caption="../report/nig_baselines.rst",
            category="NIG (cross-encoder)",
            labels={"table": "Table 1: baselines (markdown)"},
        ),
        csv="reports/tables/nig/baselines.csv",
    log:
        "results/logs/nig/baselines.log",
    benchmark:
        "results/benchmarks/nig/baselines.tsv"
    conda:
        "../../envs/attribution.yaml"
    threads: NIG["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=gpus(),
    params:
        model=lambda wc: ce_model_args(),
        data=expand("results/data/{dataset}", dataset=NIG_DATASETS),
        n=NIG["baseline_pairs"],
    shell:
        "irlens nig baselines {params.model} --pairs {input.pairs} --data {params.data} --max-pairs {params.n} "
        "--threads {threads} --md {output.md} --csv {output.csv} > {log} 2>&1"


rule nig_schemes:
    input:
        nig_merged_sets,
    output:
        values="results/nig/{ce}/schemes/values.parquet",
        sets="results/nig/{ce}/schemes/sets.parquet",
        intersections="results/nig/{ce}/schemes/intersections.parquet",
        roles="results/nig/{ce}/schemes/roles.json",
        schemes=report(
            "reports/tables/nig/{ce}/schemes.md",
            caption="../report/nig_schemes.rst",
            category="NIG (cross-encoder)",
            labels={"table": "schemes"},
        ),
        schemes_csv="reports/tables/nig/{ce}/schemes.csv",
        intersections_md=report(
            "reports/tables/nig/{ce}/intersections.md",
            caption="../report/nig_schemes.rst",
            category="NIG (cross-encoder)",
            labels={"table": "intersections"},
        ),
        intersections_csv="reports/tables/nig/{ce}/intersections.csv",
        completeness=report(
            "reports/tables/nig/{ce}/completeness.md",
            caption="../report/nig_schemes.rst",
            category="NIG (cross-encoder)",
            labels={"table": "completeness"},
        ),
        completeness_csv="reports/tables/nig/{ce}/completeness.csv",
    log:
        "results/logs/nig/schemes/{ce}.log",
    benchmark:
        "results/benchmarks/nig/schemes/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        sets=nig_set_args,
        levels=" ".join(str(x) for x in NIG["levels"]),
        in_domain=" ".join(f"--in-domain {d}" for d in NIG["in_domain"]),
        rank_by=NIG["rank_by"],
        unjudged=NIG["unjudged_negatives"],
    shell:
        "irlens nig schemes {params.sets} {params.in_domain} --levels {params.levels} --rank-by {params.rank_by} "
        "--unjudged-negatives {params.unjudged} --out-dir results/nig/{wildcards.ce}/schemes "
        "--tables-dir reports/tables/nig/{wildcards.ce} > {log} 2>&1"


rule nig_figures:
    input:
        values="results/nig/{ce}/schemes/values.parquet",
        intersections="results/nig/{ce}/schemes/intersections.parquet",
        roles="results/nig/{ce}/schemes/roles.json",
    output:
        fig2=report(
            "reports/figures/nig/{ce}/fig2-intersections.png",
            caption="../report/nig_figures.rst",
            category="NIG (cross-encoder)",
            labels={"figure": "2: intersections per label"},
        ),
        fig3=report(
            "reports/figures/nig/{ce}/fig3-summary.png",
            caption="../report/nig_figures.rst",
            category="NIG (cross-encoder)",
            labels={"figure": "3: summary"},
        ),
        fig4=report(
            "reports/figures/nig/{ce}/fig4-layers.png",
            caption="../report/nig_figures.rst",
            category="NIG (cross-encoder)",
            labels={"figure": "4: top neurons by layer"},
        ),
        pdfs=expand("reports/figures/nig/{{ce}}/{f}.pdf", f=["fig2-intersections", "fig3-summary", "fig4-layers"]),
    log:
        "results/logs/nig/figures/{ce}.log",
    benchmark:
        "results/benchmarks/nig/figures/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fig4=lambda wc: f"--fig4-scheme {quoted(NIG['fig4_scheme'])}" if NIG["fig4_scheme"] else "",
        level=NIG["fig4_level"],
    shell:
        "irlens nig figures --schemes-dir results/nig/{wildcards.ce}/schemes --out-dir reports/figures/nig/{wildcards.ce} "
        "{params.fig4} --fig4-level {params.level} --title 'NIG of {wildcards.ce}' > {log} 2>&1"
