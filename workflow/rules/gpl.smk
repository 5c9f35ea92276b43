# GPL domain adaptation (issue 7; notes/gpl-and-bi-encoder-ig.md §1), one rule per step and per
# (base model, target dataset): pseudo-queries -> hard negatives -> teacher margins -> MarginMSE training.
# The adapted model lands in results/gpl/<base>-<dataset>/model; listed under `models` (id = that folder)
# it is encoded, retrieved, evaluated and attributed (IG) like any other model, and gpl_evaluate
# compares it with its base per query (paired t-test).
GPL = config.get("gpl") or {}
GPL_BASES = list(GPL.get("base", []))
GPL_DATASETS = list(GPL.get("datasets", []))
GPL_Q = GPL.get("queries") or {}
GPL_NEG = GPL.get("negatives") or {}
GPL_PL = GPL.get("pseudo_labels") or {}
GPL_TRAIN = GPL.get("train") or {}
for _m in GPL_BASES:
    if _m not in config["models"]:
        raise ValueError(f"config: gpl.base names '{_m}', which is not a key of models")
for _d in GPL_DATASETS:
    if _d not in DATASETS:
        raise ValueError(f"config: gpl.datasets names '{_d}', which is not a key of datasets")
    if GPL_Q.get("backend", "train-queries") == "train-queries" and GPL_Q.get("split", "train") not in config["datasets"][_d]["splits"]:
        raise ValueError(f"config: gpl.queries.backend train-queries needs split '{GPL_Q.get('split', 'train')}' of {_d}; keep it in datasets.{_d}.splits or use ict / t5")
if GPL_BASES and GPL_DATASETS and not GPL.get("teacher") and not CE:
    raise ValueError("config: gpl needs a teacher: set gpl.teacher, or configure cross_encoder (the pipeline's reranker)")


def gpl_common_args():
    args = [f"--device {config['retrieval'].get('device', 'auto')}"]
    return " ".join(args + [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])])


def gpl_model_id(name):
    """A miner / base given as a key of `models` -> its id; "base" is resolved by the caller; else as is."""
    return config["models"][name]["id"] if name in config["models"] else name


def gpl_miners(wildcards):
    return [gpl_model_id(wildcards.base if m == "base" else m) for m in GPL_NEG.get("miners", ["base", "bm25"])]


def gpl_queries_args(wildcards):
    q = GPL_Q
    backend = q.get("backend", "train-queries")
    args = [f"--backend {backend} --seed {config['seed']}"]
    if backend == "train-queries":
        args.append(f"--split {q.get('split', 'train')}")
    else:
        args.append(f"--qpp {q.get('qpp', -1)} --passages {q.get('passages') or 0}")
    if backend == "ict":
        args.append(f"--min-words {q.get('min_words', 4)} --max-words {q.get('max_words', 16)}")
    if backend == "t5":
        args.append(
            f"--generator {q.get('generator', 'BeIR/query-gen-msmarco-t5-base-v1')} --batch {q.get('batch', 10)} "
            f"--max-length {q.get('max_length', 64)} --top-p {q.get('top_p', 0.95)} --top-k {q.get('top_k', 25)} {gpl_common_args()}"
        )
    return " ".join(args)


def gpl_corpus_emb(wildcards):
    """The base model's corpus embeddings (the encode rule's) when the base is a miner: no re-encoding."""
    if "base" in GPL_NEG.get("miners", ["base", "bm25"]):
        return [f"results/embeddings/{wildcards.base}/{wildcards.dataset}/corpus.npy"]
    return []


def gpl_negatives_args(wildcards):
    args = [f"--miners {' '.join(gpl_miners(wildcards))} --k {GPL_NEG.get('k', 50)} --score {GPL_NEG.get('score', 'cos')}", gpl_common_args()]
    args += [f"--corpus-emb {gpl_model_id(wildcards.base)}={f}" for f in gpl_corpus_emb(wildcards)]
    return " ".join(args)


def gpl_teacher():
    """The configured teacher (HF id / folder), else the pipeline's cross-encoder."""
    return GPL.get("teacher") or ce_model_path()


def gpl_teacher_input(wildcards):
    return [] if GPL.get("teacher") else ce_model_input()


def gpl_pseudo_labels_args(wildcards):
    args = [
        f"--teacher {gpl_teacher()} --steps {GPL_TRAIN.get('steps', 140000)} --batch {GPL_TRAIN.get('batch', 32)}",
        f"--max-length {GPL_PL.get('max_length', 350)} --seed {config['seed']} --chunk {GPL_PL.get('chunk', 2048)}",
        f"--max-tokens {GPL_PL.get('max_tokens', 8192)} --max-batch {GPL_PL.get('max_batch', 64)}",
        gpl_common_args(),
    ]
    ce_len = GPL_PL.get("ce_max_length") or (None if GPL.get("teacher") else CE.get("max_length"))
    if ce_len:
        args.append(f"--ce-max-length {ce_len}")
    rel = CE.get("relevant_label") if not GPL.get("teacher") else GPL_PL.get("relevant_label")
    if rel is not None:
        args.append(f"--relevant-label {rel}")
    return " ".join(args)


def gpl_train_args(wildcards):
    t = GPL_TRAIN
    args = [
        f"--base {gpl_model_id(wildcards.base)} --steps {t.get('steps', 140000)} --batch {t.get('batch', 32)} --max-length {t.get('max_length', 350)}",
        f"--lr {t.get('lr', 2e-5)} --warmup-steps {t.get('warmup_steps', 1000)} --weight-decay {t.get('weight_decay', 0.01)}",
        f"--seed {config['seed']} --checkpoint-every {t.get('checkpoint_every', 0)} --log-every {t.get('log_every', 10)}",
        f"--device {t.get('device', 'cpu')}",
    ]
    if t.get("rescale_range"):
        args.append(f"--rescale-range {t['rescale_range'][0]} {t['rescale_range'][1]}")
    return " ".join(args + [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])])


def gpl_adapted_name(base, dataset):
    """The key of `models` whose id is this GPL run's output folder (None when it is not listed)."""
    folder = f"results/gpl/{base}-{dataset}/model"
    for name, m in config["models"].items():
        if str(m["id"]).rstrip("/") == folder and name in DENSE:
            return name
    return None


def gpl_pairs():
    """(base, dataset, adapted model key) for every adapted model listed in models and retrieval.dense."""
    out = []
    for b in GPL_BASES:
        for d in GPL_DATASETS:
            a = gpl_adapted_name(b, d)
            if a and b in DENSE:
                out.append((b, d, a))
    return out


def gpl_evaluate_inputs(wildcards=None):
    return [f"results/retrieval/{d}/{m}/per_query.tsv" for b, d, a in gpl_pairs() for m in (b, a)]


def gpl_evaluate_args(wildcards=None):
    return " ".join(
        f"--compare {d} {b}=results/retrieval/{d}/{b}/per_query.tsv {a}=results/retrieval/{d}/{a}/per_query.tsv" for b, d, a in gpl_pairs()
    )


def gpl_targets():
    """Adapted models of every (base, dataset); the comparison table when adapted models are evaluated."""
    out = expand("results/gpl/{base}-{dataset}/model", base=GPL_BASES, dataset=GPL_DATASETS)
    if gpl_pairs():
        out += ["reports/tables/gpl/base-vs-adapted.md", "reports/tables/gpl/base-vs-adapted.csv"]
    return out


rule gpl_queries:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
    output:
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
    params:
        args=gpl_queries_args,
    log:
        "results/logs/gpl/queries/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/queries/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1 if GPL_Q.get("backend") == "t5" and str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl queries {params.args} --data results/data/{wildcards.dataset} --threads {threads} "
        "--out-queries {output.queries} --out-qrels {output.qrels} > {log} 2>&1"


rule gpl_negatives:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        qrels="results/gpl/{base}-{dataset}/qrels.tsv",
        corpus_emb=gpl_corpus_emb,
    output:
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
    params:
        args=gpl_negatives_args,
    log:
        "results/logs/gpl/negatives/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/negatives/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1 if str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl negatives {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--qrels {input.qrels} --threads {threads} --out {output.negatives} > {log} 2>&1"


rule gpl_pseudo_labels:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        negatives="results/gpl/{base}-{dataset}/hard-negatives.jsonl",
        teacher=gpl_teacher_input,
    output:
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    params:
        args=gpl_pseudo_labels_args,
    log:
        "results/logs/gpl/pseudo_labels/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/pseudo_labels/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=4000,
        runtime=240,
        gpu=1 if str(config["retrieval"].get("device", "auto")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl pseudo-labels {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--negatives {input.negatives} --threads {threads} --out {output.data} > {log} 2>&1"


rule gpl_train:
    wildcard_constraints:
        base="|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$",
    input:
        manifest="results/data/{dataset}/manifest.json",
        queries="results/gpl/{base}-{dataset}/queries.jsonl",
        data="results/gpl/{base}-{dataset}/gpl-training-data.tsv",
    output:
        model=directory("results/gpl/{base}-{dataset}/model"),
    params:
        args=gpl_train_args,
    log:
        "results/logs/gpl/train/{base}-{dataset}.log",
    benchmark:
        "results/benchmarks/gpl/train/{base}-{dataset}.tsv"
    threads: GPL.get("threads", 2)
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=1 if str(GPL_TRAIN.get("device", "cpu")).startswith("cuda") else 0,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl train {params.args} --data results/data/{wildcards.dataset} --queries {input.queries} "
        "--training-data {input.data} --threads {threads} --out {output.model} > {log} 2>&1"


rule gpl_evaluate:
    input:
        per_query=gpl_evaluate_inputs(),
    output:
        md="reports/tables/gpl/base-vs-adapted.md",
        csv="reports/tables/gpl/base-vs-adapted.csv",
    params:
        args=gpl_evaluate_args(),
        metrics=" ".join(GPL.get("metrics", ["ndcg@10", "mrr@10", "recall@100"])),
    log:
        "results/logs/gpl/evaluate.log",
    benchmark:
        "results/benchmarks/gpl/evaluate.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/irlens.yaml"
    shell:
        "irlens gpl evaluate {params.args} --metrics {params.metrics} --md {output.md} --csv {output.csv} > {log} 2>&1"
