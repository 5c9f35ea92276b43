# Input/param functions of the ablation stage (ablation.smk); the ablation needs NIG (nig_functions.smk).
ABL = config["ablation"]
ABL_SETS = dict(ABL.get("eval_sets") or {}) if NIG_DATASETS else {}
ABL_SHARDS = int(ABL["shards"])
ABL_LEVELS = ABL["levels"] or NIG["levels"]
# dose-response (the ablation_dose job, one per scheme); "P:scifact" -> wildcard/file name "P_scifact"
ABL_DOSE = ABL["dose"]
DOSE_SCHEMES = {s.replace(":", "_"): s for s in ABL_DOSE["schemes"]} if NIG_DATASETS else {}
DOSE_SCHEME_RE = "|".join(re.escape(k) for k in DOSE_SCHEMES) or "^$"  # constraint of the {scheme} wildcard


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


def dose_sets(scheme):
    """(dataset, label) NIG sets whose pairs a dose scheme may average (irlens.ablation.dose.scheme_members picks
    those the schemes were built from: roles.json)."""
    if scheme == "F_A":
        return [(d, l) for d in NIG_DATASETS for l in NIG_LABELS]
    kind, d = scheme.split(":", 1)
    labels = {"P": ["relevant"], "N": ["non-relevant"], "F": NIG_LABELS}[kind]
    return [(d, l) for l in labels]


def ablation_dose_pairs(wildcards):
    sets = dose_sets(DOSE_SCHEMES[wildcards.scheme])
    return [f"results/nig/{wildcards.ce}/{d}/{l}/all.pairs.parquet" for d, l in sets]


def ablation_dose_manifests(wildcards):
    datasets = dict.fromkeys(d for d, _ in dose_sets(DOSE_SCHEMES[wildcards.scheme]))
    return [f"results/data/{d}/manifest.json" for d in datasets]


def ablation_dose_args(wildcards):
    scheme = DOSE_SCHEMES[wildcards.scheme]
    datasets = dict.fromkeys(d for d, _ in dose_sets(scheme))
    return (
        f"--scheme {quoted(scheme)} {' '.join(f'--data {d}=results/data/{d}' for d in datasets)} "
        f"--counts {' '.join(str(n) for n in ABL_DOSE['counts'])} --repeats {ABL_DOSE['repeats']} "
        f"--max-pairs {ABL_DOSE['max_pairs']} --seed {config['seed']} --correction {ABL_DOSE['correction']} "
        f"--max-rows {ABL['max_rows']} --cache-mb {ABL['cache_mb']}"
    )


def ablation_inputs(wildcards):
    return " ".join(f"--input {d}=results/ablation/{wildcards.ce}/{d}/all.parquet" for d in ABL_SETS)


def ablation_dose_targets():
    return [
        f"{folder}/ablation/{CE_NAME}/dose-{s}.{e}"
        for s in DOSE_SCHEMES
        for folder, exts in (("reports/tables", ("md", "csv")), ("reports/figures", ("png", "pdf")))
        for e in exts
    ]


def ablation_targets():
    table4 = []
    if ABL_SETS:
        table4 = [f"reports/tables/ablation/{CE_NAME}/table4.{e}" for e in ("md", "csv", "tex")] + [
            f"reports/figures/ablation/{CE_NAME}/drops.{e}" for e in ("png", "pdf")
        ]
    return table4 + ablation_dose_targets()
