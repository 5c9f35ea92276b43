# Input/param functions of the ablation stage (ablation.smk); the ablation needs NIG (nig_functions.smk).
ABL = config["ablation"]
ABL_SETS = dict(ABL.get("eval_sets") or {}) if NIG_DATASETS else {}
ABL_SHARDS = int(ABL["shards"])
ABL_LEVELS = ABL["levels"] or NIG["levels"]


def ablation_exclude_pairs(wildcards):
    """The NIG pairs of this dataset: their queries are left out of the evaluation set."""
    if wildcards.dataset in NIG_DATASETS:
        return [f"results/nig/{wildcards.ce}/{wildcards.dataset}/pairs.parquet"]
    return []


def ablation_study_args(wildcards):
    return (
        f"--schemes {' '.join(repr(s) for s in ABL['schemes'])} --levels {' '.join(str(x) for x in ABL_LEVELS)} "
        f"--repeats {ABL['repeats']} --seed {config['seed']} --max-rows {ABL['max_rows']} --cache-mb {ABL['cache_mb']}"
    )


def ablation_inputs(wildcards):
    return " ".join(f"--input {d}=results/ablation/{wildcards.ce}/{d}/all.parquet" for d in ABL_SETS)


def ablation_targets():
    if not ABL_SETS:
        return []
    return [f"reports/tables/ablation/{CE_NAME}/table4.{e}" for e in ("md", "csv", "tex")] + [
        f"reports/figures/ablation/{CE_NAME}/drops.{e}" for e in ("png", "pdf")
    ]
