# Input/param functions of the report stage (report.smk).


def claims_inputs(wildcards=None):
    """{flag: table} of the stages configured: what the Claims table reads (the others are 'not run')."""
    out = {}
    if gpl_pairs():
        out["gpl"] = "reports/tables/gpl/base-vs-adapted.csv"
    if IG_MODELS and IG_DATASETS:
        out["ig"] = "reports/tables/ig/paired_differences.csv"
    if NIG_DATASETS:
        out["nig"] = f"reports/tables/nig/{CE_NAME}/intersections.csv"
    if ABL_SETS:
        out["ablation"] = f"reports/tables/ablation/{CE_NAME}/table4.csv"
    if SAE:
        out["sae_variants"] = f"reports/tables/sae/{SAE_MODEL}/variants.csv"
        out["sae_control"] = f"reports/tables/sae/{SAE_MODEL}/control.csv"
    return out


def claims_args(wildcards=None):
    """--<flag> <table> per configured stage, and --adapted: the GPL-adapted models the IG stage attributes."""
    args = [f"--{k.replace('_', '-')} {quoted(v)}" for k, v in claims_inputs().items()]
    adapted = [a for b, d, a in gpl_pairs() if a in IG_MODELS]
    if adapted and "ig" in claims_inputs():
        args.append(f"--adapted {' '.join(quoted(a) for a in adapted)}")
    return " ".join(args)
