# Input/param functions of the IG stage (ig.smk).
IG = config["ig"]
IG_MODELS = list(IG["models"])
IG_DATASETS = list(IG["datasets"])
IG_SHARDS = int(IG["shards"])


def ig_encoder_args(wildcards):
    """The model half of the IG commands' arguments: data, model, its score, device, local copies."""
    m = model_cfg(wildcards.model)
    args = [
        f"--data results/data/{wildcards.dataset} --dataset {wildcards.dataset} --split {quoted(IG['split'])}",
        f"--model {quoted(m['id'])} --label {wildcards.model} --score {m['score']}",
        f"{device_args()} --seed {config['seed']}",
    ]
    args += local_dir_args()
    if m.get("max_seq_length"):
        args.append(f"--max-seq-length {m['max_seq_length']}")
    return " ".join(args)


def ig_model_args(wildcards):
    """Arguments shared by the IG commands: data, run, model and its score."""
    args = [ig_encoder_args(wildcards), f"--run results/retrieval/{wildcards.dataset}/{wildcards.model}/run.trec"]
    if getattr(wildcards, "side", None) == "sentences":
        args.append(f"--sentences-per-doc {sae_sentences()} --seed {config['seed']}")
    return " ".join(args)


IG_FAITH = IG.get("faithfulness")
IG_FAITH_ORDERS = ["ig", "grad_input", "attention", "random"]  # the schema's default of ig.faithfulness.orders


def ig_faithfulness_args(wildcards):
    """Options of ``irlens ig faithfulness`` from ig.faithfulness (and IG's baseline)."""
    f = IG_FAITH
    return (
        f"{ig_encoder_args(wildcards)} --baseline {IG['baseline']} --sides {','.join(f['sides'])} "
        f"--orders {','.join(f.get('orders') or IG_FAITH_ORDERS)} "
        f"--per-query {f['per_query']} --repeats {f['repeats']} "
        f"--fractions {','.join(f'{x:g}' for x in f['fractions'])} --max-tokens {IG['max_tokens']}"
    )


def ig_faithfulness_outputs():
    if not (IG_FAITH and IG_MODELS and IG_DATASETS):
        return []
    return [f"reports/tables/ig/faithfulness.{e}" for e in ("md", "csv")] + [
        f"reports/figures/ig/faithfulness.{e}" for e in ("png", "pdf")
    ]


def ig_pairs_args(wildcards):
    """Options of ``irlens ig pairs``: split, query draw and top-k per compared model."""
    return f"--split {quoted(IG['split'])} --queries {IG['queries']} --top-k {IG['top_k']} --seed {config['seed']}"


def ig_attribute_args(wildcards):
    tol = IG["tol"]
    return (
        f"--top-k {IG['top_k']} --sides {','.join(IG['sides'])} "
        f"--baseline {IG['baseline']} --method {IG['method']} --steps {IG['steps']} "
        + (f"--tol {tol} " if tol else "")
        + f"--max-steps {IG['max_steps']} --max-tokens {IG['max_tokens']} --precision {IG['precision']}"
    )


def ig_domain_args(wildcards):
    """In-domain term options of ``irlens ig tables`` (vocabulary size, document frequency, smoothing)."""
    return (
        f"--domain-terms {IG['domain_terms']} --domain-min-df {IG['domain_min_df']} "
        f"--domain-smoothing {IG['domain_smoothing']}"
    )


def ig_shard_prefixes(wildcards):
    return expand(
        "results/ig/{model}/{dataset}/shards/{shard}-of-{n}",
        model=wildcards.model,
        dataset=wildcards.dataset,
        shard=range(IG_SHARDS),
        n=IG_SHARDS,
    )


def ig_heatmaps(model, dataset, ext="png"):
    return [f"reports/figures/ig/{dataset}/heatmap-{model}-{i}.{ext}" for i in range(1, int(IG["view_queries"]) + 1)]


def ig_targets():
    if not (IG_MODELS and IG_DATASETS):
        return []
    out = []
    for d in IG_DATASETS:
        out += [f"results/ig/{m}/{d}/all.pairs.parquet" for m in IG_MODELS]
        out += [f"reports/ig/{m}/{d}/views.html" for m in IG_MODELS]
        out += [f"reports/tables/ig/baselines-{m}-{d}.md" for m in IG_MODELS]
        out += [f"reports/figures/ig/{d}/wordcloud-{m}.png" for m in IG_MODELS]
        out += [f"reports/figures/ig/{d}/wordcloud-diff-{m}.png" for m in IG_MODELS[1:]]
    out += [f"reports/tables/ig/{t}.md" for t in ("completeness", "title_share", "domain_terms", "paired_differences")]
    return out + ig_faithfulness_outputs()
