# Input/param functions of the SAE stage (sae.smk). A TopK SAE per variant over one dense model's cached
# embeddings: "main" (preset + settings), the named sae.variants (settings over main's; defaults: "paper" =
# the paper's MSE + KL on reconstructed scores, "paper-mse" = its MSE-only ablation), main's seed replicas
# "main-s<seed>" (sae.seeds) and the K sweep "k<K>" (main with k and sweep.epochs). Without an sae block the
# SAE rules match nothing.
SAE = config.get("sae") or {}
SAE_MODEL = SAE["model"] if SAE else None
SAE_TRAIN_DATASETS = list(SAE["train_datasets"]) if SAE else []
SAE_EVAL = SAE["eval"] if SAE else {}
SAE_EVAL_DATASET = SAE_EVAL["dataset"] if SAE else "none"  # "none": placeholder in the unused paths
SAE_THREADS = SAE["threads"] if SAE else 1
SAE_EVAL_THREADS = SAE.get("eval_threads") or SAE_THREADS


def sae_sweep_names():
    sw = SAE.get("sweep") if SAE else None
    return [f"k{k}" for k in (sw["k"] if sw else [])]


def sae_variants():
    """{variant: TrainConfig settings over the preset}, main first, then sae.variants, then the K sweep."""
    if not SAE:
        return {}
    main = dict(SAE["settings"])
    out = {"main": main}
    for s in sae_seeds():
        out[f"main-s{s}"] = {**main, "seed": s}
    for name, settings in (SAE.get("variants") or {}).items():
        if settings is None:  # a default variant switched off
            continue
        if name == "main" or name in sae_sweep_names() or name in out:
            raise ValueError(f"config: sae.variants names '{name}', which is main, a seed replica or a K sweep variant")
        out[name] = {**main, **settings}
    sw = SAE.get("sweep")
    for k in sw["k"] if sw else []:
        out[f"k{k}"] = {**main, "k": int(k), **({"epochs": int(sw["epochs"])} if sw.get("epochs") else {})}
    return out


def sae_seeds():
    """sae.seeds without `seed` itself (main trains with it): the replicas main-s<seed> of main."""
    return [int(s) for s in SAE.get("seeds") or [] if int(s) != int(config["seed"])]


def sae_train_threads(wildcards):
    """main and sae.variants train with sae.threads; the short sweep trainings with sae.sweep.threads."""
    sw = SAE.get("sweep") or {}
    if wildcards.variant not in sae_sweep_names() or not sw.get("threads"):
        return SAE_THREADS
    return int(sw["threads"])


def sae_sentences():
    """Corpus sentences per document added to SAE training (sae.sentences_per_doc; 0 = none)."""
    return int(SAE["sentences_per_doc"]) if SAE else 0


def sae_train_inputs(wildcards):
    sides = ("corpus", "queries") + (("sentences",) if sae_sentences() else ())
    return [f"results/embeddings/{SAE_MODEL}/{d}/{side}.npy" for d in SAE_TRAIN_DATASETS for side in sides] + [
        sae_qrels_dir()
    ]


def sae_qrels_dir():
    """The qrels folder of the data step (a directory output) holding the evaluation split's qrels."""
    return f"results/data/{SAE_EVAL['dataset']}/qrels"


def sae_eval_qrels():
    return quoted(f"results/data/{SAE_EVAL['dataset']}/qrels/{SAE_EVAL['split']}.tsv")


def sae_train_args(wildcards):
    import json

    settings = dict(sae_variants()[wildcards.variant])
    args = [f"--preset {SAE['preset']}", f"--seed {settings.pop('seed', config['seed'])}"]
    args += [f"--embeddings results/embeddings/{SAE_MODEL}/{d}" for d in SAE_TRAIN_DATASETS]
    if SAE_EVAL["dataset"] in SAE_TRAIN_DATASETS:
        args.append(f"--exclude-qrels {SAE_EVAL['dataset']}={sae_eval_qrels()}")
    if sae_sentences():
        args.append("--sentences")
    args.append(f"--settings {shlex.quote(json.dumps(settings, sort_keys=True))}")
    args.append(device_args())  # retrieval.device, like every model stage (the rule's gpu resource follows it)
    return " ".join(args)


def sae_evals():
    return {v: f"results/sae/{SAE_MODEL}/{v}/eval-{SAE_EVAL['dataset']}.json" for v in sae_variants()}


def sae_table_args(wildcards=None):
    v = sae_variants()
    args = [f"--eval {n}={p}" for n, p in sae_evals().items()]
    sweep = [n for n in sae_sweep_names() if n in v]
    if sweep:
        args.append(f"--sweep {' '.join(sweep)}")
    for on, off in (("main", "paper-mse"), ("paper", "paper-mse")):  # retrieval loss on vs the MSE-only ablation
        if on in v and off in v:
            args.append(f"--pair {on}:{off}")
    return " ".join(args)


def sae_option_args(block, keys):
    """--key value of the keys given in sae.<block> (absent keys: the command's own defaults)."""
    b = SAE.get(block) or {}
    out = []
    for k in keys:
        if k in b:
            v = b[k]
            val = " ".join(quoted(x) for x in v) if isinstance(v, list) else quoted(v)
            out.append(f"--{k.replace('_', '-')} {val}")
    return " ".join(out)


def sae_targets():
    if not SAE:
        return []
    m = SAE_MODEL
    return (
        list(sae_evals().values())
        + [f"reports/tables/sae/{m}/variants.{e}" for e in ("md", "csv")]
        + [f"reports/figures/sae/{m}/variants.{e}" for e in ("png", "pdf")]
        + [f"reports/sae/{m}/latents.html", f"results/sae/{m}/main/latents.json"]
        + [f"reports/tables/sae/{m}/control.{e}" for e in ("md", "csv")]
        + [f"reports/figures/sae/{m}/control.{e}" for e in ("png", "pdf")]
        + [f"reports/tables/sae/{m}/causal.{e}" for e in ("md", "csv")]
        + [f"results/sae/{m}/{v}/saelens" for v in sae_variants()]
    )
