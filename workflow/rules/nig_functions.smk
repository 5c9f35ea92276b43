# Input/param functions of the NIG stage (nig.smk); NIG needs the cross-encoder (cross_encoder_functions.smk).
NIG = config["nig"]
NIG_DATASETS = list(NIG["datasets"]) if CE else []
NIG_LABELS = ["relevant", "non-relevant"]
NIG_SHARDS = int(NIG["shards"])


def nig_attribute_args(wildcards):
    return (
        f"--baseline {NIG['baseline']} --rule {NIG['rule']} " f"--steps {NIG['steps']} --max-tokens {NIG['max_tokens']}"
    )


def nig_shard_prefixes(wildcards):
    return expand(
        "results/nig/{ce}/{dataset}/{label}/shards/{shard}-of-{n}",
        ce=wildcards.ce,
        dataset=wildcards.dataset,
        label=wildcards.label,
        shard=range(NIG_SHARDS),
        n=NIG_SHARDS,
    )


def nig_merged_sets(wildcards):
    return [
        f"results/nig/{wildcards.ce}/{d}/{l}/all.{ext}"
        for d in NIG_DATASETS
        for l in NIG_LABELS
        for ext in ("npy", "neurons.parquet", "pairs.parquet")
    ]


def nig_set_args(wildcards):
    return " ".join(f"--set results/nig/{wildcards.ce}/{d}/{l}/all:{d}:{l}" for d in NIG_DATASETS for l in NIG_LABELS)


def nig_targets():
    if not NIG_DATASETS:
        return []
    figures = ("fig2-intersections", "fig3-summary", "fig4-layers")
    return (
        ["reports/tables/nig/baselines.md", f"results/nig/{CE_NAME}/schemes/sets.parquet"]
        + [f"reports/tables/nig/{CE_NAME}/{t}.md" for t in ("schemes", "intersections", "completeness")]
        + [f"reports/figures/nig/{CE_NAME}/{f}.{e}" for f in figures for e in ("png", "pdf")]
    )
