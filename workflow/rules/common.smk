# Shared helpers: config validation, the irlens command, input functions, final targets.
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")


envvars:
    "PATH",

# Rules call `irlens`. Outside conda, an activated environment's console script wins; failing that,
# the one beside the interpreter running Snakemake (shell rules see PATH, not the interpreter).
# Under --use-conda / --sdm conda, workflow/bin/irlens runs this checkout's package with the env's python.
_SHIM = str(Path(workflow.basedir, "workflow", "bin"))
if "conda" in str(getattr(workflow.deployment_settings, "deployment_method", "")).lower():
    os.environ["PATH"] = os.pathsep.join([_SHIM, os.environ.get("PATH", "")])
elif not shutil.which("irlens"):
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), os.path.dirname(sys.executable), _SHIM])

DATASETS = list(config["datasets"])
DENSE = list(config["retrieval"]["dense"])
RETRIEVERS = DENSE + (["bm25"] if config["retrieval"].get("bm25", {}).get("enabled", True) else [])

for _m in DENSE:
    if _m not in config["models"]:
        raise ValueError(f"config: retrieval.dense names '{_m}', which is not a key of models")
    for _d in config["models"][_m].get("datasets") or []:
        if _d not in DATASETS:
            raise ValueError(f"config: models.{_m}.datasets names '{_d}', which is not a key of datasets")


def model_datasets(model):
    """Datasets a dense model is evaluated on: models.<name>.datasets, or all of them."""
    return [d for d in DATASETS if d in (config["models"][model].get("datasets") or DATASETS)]


def retrievers_of(dataset):
    """Retrievers with a run on ``dataset``: the dense models evaluated there, then BM25."""
    return [r for r in RETRIEVERS if r == "bm25" or dataset in model_datasets(r)]


def run_files(datasets, name="metrics.json"):
    return [f"results/retrieval/{d}/{r}/{name}" for d in datasets for r in retrievers_of(d)]

IG = config.get("ig") or {}
IG_MODELS = list(IG.get("models", []))
IG_DATASETS = list(IG.get("datasets", []))
IG_SHARDS = int(IG.get("shards", 1))
for _m in IG_MODELS:
    if _m not in DENSE:
        raise ValueError(f"config: ig.models names '{_m}', which has no run; add it to retrieval.dense")
for _d in IG_DATASETS:
    if _d not in DATASETS:
        raise ValueError(f"config: ig.datasets names '{_d}', which is not a key of datasets")
    for _m in IG_MODELS:
        if _d not in model_datasets(_m):
            raise ValueError(f"config: ig.datasets names '{_d}', but models.{_m}.datasets leaves it out")
if IG_MODELS and IG_DATASETS and len(DATASETS) < 2:
    raise ValueError("config: the IG in-domain term table needs a reference corpus; configure at least two datasets")

# Names used in paths are plain identifiers; constraining wildcards keeps path parsing unambiguous.
wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)) if DATASETS else "[^/]+",
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    retriever="[A-Za-z0-9][A-Za-z0-9_.-]*",
    side="corpus|queries|sentences",
    shard=r"\d+",
    nshards=r"\d+",
    i=r"\d+",
    label="relevant|non-relevant",


def dataset_source_files(wildcards):
    """Files of the first local mirror holding the dataset (so edits there trigger a rebuild)."""
    for mirror in config["data"]["mirrors"]:
        folder = Path(mirror) / wildcards.dataset
        if (folder / "corpus.jsonl").is_file():
            files = [folder / "corpus.jsonl", folder / "queries.jsonl"]
            files += [folder / "qrels" / f"{s}.tsv" for s in config["datasets"][wildcards.dataset]["splits"]]
            return [str(f) for f in files if f.is_file()]
    return []


def data_args(wildcards):
    d = config["data"]
    args = [f"--mirror {m}" for m in d["mirrors"]]
    args.append(f"--download-dir {d['download_dir']}")
    irds = (d.get("ir_datasets") or {}).get(wildcards.dataset)
    if irds:
        args.append(f"--irds {irds}")
    args += [f"--split {s}" for s in config["datasets"][wildcards.dataset]["splits"]]
    sub = d.get("subsample")
    if sub:
        args.append(f"--subsample-queries {sub['queries']} --subsample-distractors {sub.get('distractors', 0)} --seed {config['seed']}")
    return " ".join(args)


def model_cfg(name):
    return config["models"][name]


def model_folder_input(wildcards):
    """A model the pipeline builds itself (id = a folder under results/, e.g. a GPL-adapted model) as an input."""
    mid = str(model_cfg(wildcards.model)["id"]).rstrip("/")
    return [mid] if mid.startswith("results/") else []


def encode_args(wildcards):
    m = model_cfg(wildcards.model)
    enc = config["retrieval"].get("encode", {})
    args = [
        f"--model {m['id']}",
        f"--device {config['retrieval'].get('device', 'auto')}",
        f"--max-tokens {enc.get('max_tokens', 16384)} --max-batch {enc.get('max_batch', 256)}",
    ]
    args += [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])]
    if m.get("max_seq_length"):
        args.append(f"--max-seq-length {m['max_seq_length']}")
    if getattr(wildcards, "side", None) == "sentences":
        args.append(f"--sentences-per-doc {sae_sentences()} --seed {config['seed']}")
    return " ".join(args)


def eval_split(wildcards):
    return config["datasets"][wildcards.dataset]["eval_split"]


def retriever_label(wildcards):
    r = wildcards.retriever
    if r == "bm25":
        b = config["retrieval"].get("bm25", {})
        return f"--model bm25 --backend 'bm25s lucene k1={b.get('k1', 0.9)} b={b.get('b', 0.4)} stemmer={b.get('stemmer', 'english')}'"
    m = model_cfg(r)
    return f"--model {m['id']} --backend 'exact dense {m.get('score', 'cos')}'"


def ig_model_args(wildcards):
    """Arguments shared by the IG commands: data, run, model and its score."""
    m = model_cfg(wildcards.model)
    args = [
        f"--data results/data/{wildcards.dataset} --dataset {wildcards.dataset} --split {IG.get('split', 'test')}",
        f"--run results/retrieval/{wildcards.dataset}/{wildcards.model}/run.trec",
        f"--model {m['id']} --label {wildcards.model} --score {m.get('score', 'cos')}",
        f"--device {config['retrieval'].get('device', 'auto')} --seed {config['seed']}",
    ]
    args += [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])]
    if m.get("max_seq_length"):
        args.append(f"--max-seq-length {m['max_seq_length']}")
    if getattr(wildcards, "side", None) == "sentences":
        args.append(f"--sentences-per-doc {sae_sentences()} --seed {config['seed']}")
    return " ".join(args)


def ig_attribute_args(wildcards):
    tol = IG.get("tol", 0.01)
    return (
        f"--queries {IG.get('queries', 6)} --top-k {IG.get('top_k', 10)} --sides {','.join(IG.get('sides', ['document', 'query']))} "
        f"--baseline {IG.get('baseline', 'pad')} --method {IG.get('method', 'gauss-legendre')} --steps {IG.get('steps', 16)} "
        + (f"--tol {tol} " if tol else "")
        + f"--max-steps {IG.get('max_steps', 256)} --max-tokens {IG.get('max_tokens', 8192)}"
    )


def ig_shard_prefixes(wildcards):
    return expand("results/ig/{model}/{dataset}/shards/{shard}-of-{n}", model=wildcards.model, dataset=wildcards.dataset, shard=range(IG_SHARDS), n=IG_SHARDS)


def ig_heatmaps(model, dataset, ext="png"):
    return [f"reports/figures/ig/{dataset}/heatmap-{model}-{i}.{ext}" for i in range(1, int(IG.get("view_queries", 3)) + 1)]


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
    out += [f"reports/tables/ig/{t}.md" for t in ("completeness", "title_share", "domain_terms")]
    return out


def metrics_files():
    return run_files(DATASETS)


def final_targets():
    """Everything the pipeline keeps: deleting any of these rebuilds it and what depends on it."""
    return (
        expand("results/data/{dataset}/manifest.json", dataset=DATASETS)
        + [f"results/embeddings/{m}/{d}/{side}.npy" for m in DENSE for d in model_datasets(m) for side in ("corpus", "queries")]
        + [f for name in ("run.trec", "metrics.json", "per_query.tsv") for f in run_files(DATASETS, name)]
        + ["reports/tables/retrieval.md", "reports/tables/retrieval.csv"]
        + ig_targets()
        + ce_targets()
        + nig_targets()
        + ablation_targets()
        + gpl_targets()
        + sae_targets()
    )


# ----------------------------------------------------------------------------------- cross-encoder
# A reranker the pipeline trains itself (cross_encoder.id null) or a given one (id = HF id / folder).
CE = config.get("cross_encoder") or {}
CE_NAME = CE.get("name", "minilm-ce")
CE_TRAIN = CE.get("train") or {}
CE_RERANK = CE.get("rerank") or {}
CE_DATASETS = list(CE_RERANK.get("datasets", []))
for _d in CE_DATASETS + ([CE_TRAIN["dataset"]] if CE and not CE.get("id") and "dataset" in CE_TRAIN else []):
    if _d not in DATASETS:
        raise ValueError(f"config: cross_encoder names dataset '{_d}', which is not a key of datasets")
if CE and not CE.get("id") and CE_TRAIN.get("split", "train") not in config["datasets"][CE_TRAIN.get("dataset", "nfcorpus")]["splits"]:
    raise ValueError(f"config: cross_encoder.train.split '{CE_TRAIN.get('split', 'train')}' is not kept for {CE_TRAIN.get('dataset', 'nfcorpus')} (datasets.<name>.splits)")


def ce_trained():
    """True when the pipeline trains the reranker (cross_encoder configured with id null)."""
    return bool(CE) and not CE.get("id")


def ce_model_folder():
    return f"results/cross_encoder/{CE_NAME}/model"


def ce_model_path():
    """What `--model` gets for the cross-encoder: the trained folder, or the configured HF id/folder."""
    return ce_model_folder() if ce_trained() else CE.get("id")


def ce_model_input(wildcards=None):
    """The trained folder as an input dependency ([] when a given reranker is used)."""
    return [ce_model_folder()] if ce_trained() else []


def ce_model_args():
    """--model, --max-length, --relevant-label, --device and --local-dir for commands loading the reranker."""
    args = [f"--model {ce_model_path()} --device {config['retrieval'].get('device', 'auto')}"]
    if CE.get("max_length"):
        args.append(f"--max-length {CE['max_length']}")
    if CE.get("relevant_label") is not None:
        args.append(f"--relevant-label {CE['relevant_label']}")
    args += [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])]
    return " ".join(args)


def ce_train_data(wildcards):
    return f"results/data/{CE_TRAIN.get('dataset', 'nfcorpus')}/manifest.json"


def ce_train_args(wildcards):
    t = CE_TRAIN
    args = [
        f"--base {t.get('base', 'sentence-transformers/all-MiniLM-L6-v2')}",
        f"--data results/data/{t.get('dataset', 'nfcorpus')} --split {t.get('split', 'train')}",
        f"--steps {t.get('steps', 100)} --batch {t.get('batch', 16)} --max-length {CE.get('max_length') or 128}",
        f"--lr {t.get('lr', 5e-5)} --head-lr {t.get('head_lr') or t.get('lr', 5e-5)} --warmup {t.get('warmup', 0.1)} --negatives-depth {t.get('negatives_depth', 30)}",
        f"--seed {config['seed']} --checkpoint-every {t.get('checkpoint_every', 0)} --device {config['retrieval'].get('device', 'auto')}",
    ]
    args += [f"--local-dir {d}" for d in config["resources"].get("model_dirs", [])]
    return " ".join(args)


def ce_rerank_args(wildcards):
    depth = CE_RERANK.get("depth", 100)
    label = ce_model_path() if ce_trained() else CE.get("id")
    return (
        f"{ce_model_args()} --model-label {label} --label {wildcards.ce} --first-stage bm25 --depth {depth} "
        f"--max-tokens {CE_RERANK.get('max_tokens', 8192)} --max-batch {CE_RERANK.get('max_batch', 64)}"
    )


def ce_table_metrics():
    """BM25 and dense metrics of the reranked datasets, then the reranker's."""
    return run_files(CE_DATASETS) + expand(
        "results/rerank/{dataset}/{ce}/metrics.json", dataset=CE_DATASETS, ce=CE_NAME
    )


def ce_in_domain():
    """Datasets the reranker was trained on (tagged ID in the table); none for a given reranker."""
    return CE_TRAIN.get("dataset", "nfcorpus") if ce_trained() else ""


def ce_targets():
    if not (CE and CE_DATASETS):
        return []
    out = expand("results/rerank/{dataset}/{ce}/{f}", dataset=CE_DATASETS, ce=CE_NAME, f=["run.trec", "metrics.json", "per_query.tsv"])
    return out + ["reports/tables/cross_encoder/rerank.md", "reports/tables/cross_encoder/rerank.csv"] + ce_model_input()


# --------------------------------------------------------------------------------------------- NIG
NIG = config.get("nig") or {}
NIG_DATASETS = list(NIG.get("datasets", [])) if CE else []
NIG_LABELS = ["relevant", "non-relevant"]
NIG_SHARDS = int(NIG.get("shards", 1))
for _d in NIG_DATASETS + list(NIG.get("in_domain", [])):
    if _d not in DATASETS:
        raise ValueError(f"config: nig names dataset '{_d}', which is not a key of datasets")
if NIG_DATASETS and not config["retrieval"].get("bm25", {}).get("enabled", True):
    raise ValueError("config: nig draws non-relevant pairs from the BM25 run; set retrieval.bm25.enabled: true")


def nig_attribute_args(wildcards):
    return (
        f"--baseline {NIG.get('baseline', 'pad-all')} --rule {NIG.get('rule', 'trapezoid')} "
        f"--steps {NIG.get('steps', 32)} --max-tokens {NIG.get('max_tokens', 16384)}"
    )


def nig_shard_prefixes(wildcards):
    return expand(
        "results/nig/{ce}/{dataset}/{label}/shards/{shard}-of-{n}",
        ce=wildcards.ce, dataset=wildcards.dataset, label=wildcards.label, shard=range(NIG_SHARDS), n=NIG_SHARDS,
    )


def nig_merged_sets(wildcards):
    return [f"results/nig/{wildcards.ce}/{d}/{l}/all.{ext}" for d in NIG_DATASETS for l in NIG_LABELS for ext in ("npy", "neurons.parquet", "pairs.parquet")]


def nig_set_args(wildcards):
    return " ".join(f"--set results/nig/{wildcards.ce}/{d}/{l}/all:{d}:{l}" for d in NIG_DATASETS for l in NIG_LABELS)


def nig_targets():
    if not NIG_DATASETS:
        return []
    return (
        ["reports/tables/nig/baselines.md", f"results/nig/{CE_NAME}/schemes/sets.parquet"]
        + [f"reports/tables/nig/{CE_NAME}/{t}.md" for t in ("schemes", "intersections", "completeness")]
        + [f"reports/figures/nig/{CE_NAME}/{f}.{e}" for f in ("fig2-intersections", "fig3-summary", "fig4-layers") for e in ("png", "pdf")]
    )


# ---------------------------------------------------------------------------------------- ablation
ABL = (config.get("ablation") or {}) if NIG_DATASETS else {}
ABL_SETS = dict(ABL.get("eval_sets") or {})
ABL_SHARDS = int(ABL.get("shards", 1))
ABL_LEVELS = ABL.get("levels") or NIG.get("levels", [0.01, 0.1, 1])
for _d, _v in ABL_SETS.items():
    if _d not in DATASETS:
        raise ValueError(f"config: ablation.eval_sets names dataset '{_d}', which is not a key of datasets")
    if _v["split"] not in config["datasets"][_d]["splits"]:
        raise ValueError(f"config: ablation.eval_sets.{_d}.split '{_v['split']}' is not kept for {_d} (datasets.{_d}.splits)")


def ablation_exclude_pairs(wildcards):
    """The NIG pairs of this dataset: their queries are left out of the evaluation set."""
    return [f"results/nig/{wildcards.ce}/{wildcards.dataset}/pairs.parquet"] if wildcards.dataset in NIG_DATASETS else []


def ablation_study_args(wildcards):
    return (
        f"--schemes {' '.join(repr(s) for s in ABL['schemes'])} --levels {' '.join(str(x) for x in ABL_LEVELS)} "
        f"--repeats {ABL.get('repeats', 50)} --seed {config['seed']} --max-rows {ABL.get('max_rows', 64)} --cache-mb {ABL.get('cache_mb', 2048)}"
    )


def ablation_targets():
    if not (ABL and ABL_SETS):
        return []
    return [f"reports/tables/ablation/{CE_NAME}/table4.{e}" for e in ("md", "csv", "tex")] + [
        f"reports/figures/ablation/{CE_NAME}/drops.{e}" for e in ("png", "pdf")
    ]


# --------------------------------------------------------------------------------------------- GPL
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
            if a and b in DENSE and d in model_datasets(a) and d in model_datasets(b):
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


# ------------------------------------------------------------------------------------------- SAE
# A TopK SAE per variant over one dense model's cached embeddings: "main" (preset + settings), "lambda0"
# (main + lambda_off: the retrieval losses off) and the K sweep "k<K>" (main with k and sweep.epochs).
SAE = config.get("sae") or {}
SAE_MODEL = SAE.get("model")
SAE_TRAIN_DATASETS = list(SAE.get("train_datasets", []))
SAE_EVAL = SAE.get("eval") or {}
if SAE:
    if SAE_MODEL not in DENSE:
        raise ValueError(f"config: sae.model '{SAE_MODEL}' has no cached embeddings; add it to retrieval.dense")
    for _d in SAE_TRAIN_DATASETS + [SAE_EVAL.get("dataset")]:
        if _d not in DATASETS:
            raise ValueError(f"config: sae names dataset '{_d}', which is not a key of datasets")
        if _d not in model_datasets(SAE_MODEL):
            raise ValueError(f"config: sae names dataset '{_d}', but models.{SAE_MODEL}.datasets leaves it out")
    if SAE_EVAL.get("split") not in config["datasets"][SAE_EVAL["dataset"]]["splits"]:
        raise ValueError(f"config: sae.eval.split '{SAE_EVAL.get('split')}' is not kept for {SAE_EVAL['dataset']} (datasets.<name>.splits)")


def sae_variants():
    """{variant: TrainConfig settings over the preset}, main first."""
    if not SAE:
        return {}
    main = dict(SAE.get("settings") or {})
    out = {"main": main}
    if SAE.get("lambda_off") is not None:
        out["lambda0"] = {**main, **SAE["lambda_off"]}
    sw = SAE.get("sweep") or {}
    for k in sw.get("k", []):
        out[f"k{k}"] = {**main, "k": int(k), **({"epochs": int(sw["epochs"])} if sw.get("epochs") else {})}
    return out


def sae_train_threads(wildcards):
    """main and lambda0 train with sae.threads; the short sweep trainings with sae.sweep.threads."""
    sw = SAE.get("sweep") or {}
    if wildcards.variant in ("main", "lambda0") or not sw.get("threads"):
        return SAE.get("threads", 2)
    return int(sw["threads"])


def sae_sentences():
    """Corpus sentences per document added to SAE training (sae.sentences_per_doc; 0 = none)."""
    return int(SAE.get("sentences_per_doc") or 0)


def sae_train_inputs(wildcards):
    sides = ("corpus", "queries") + (("sentences",) if sae_sentences() else ())
    return [f"results/embeddings/{SAE_MODEL}/{d}/{side}.npy" for d in SAE_TRAIN_DATASETS for side in sides] + [sae_qrels_dir()]


def sae_qrels_dir():
    """The data rule's qrels folder (a directory output) holding the evaluation split's qrels."""
    return f"results/data/{SAE_EVAL['dataset']}/qrels"


def sae_eval_qrels():
    return f"results/data/{SAE_EVAL['dataset']}/qrels/{SAE_EVAL['split']}.tsv"


def sae_train_args(wildcards):
    import json

    args = [f"--preset {SAE.get('preset', 'recommended')}", f"--seed {config['seed']}"]
    args += [f"--embeddings results/embeddings/{SAE_MODEL}/{d}" for d in SAE_TRAIN_DATASETS]
    if SAE_EVAL["dataset"] in SAE_TRAIN_DATASETS:
        args.append(f"--exclude-qrels {SAE_EVAL['dataset']}={sae_eval_qrels()}")
    if sae_sentences():
        args.append("--sentences")
    args.append(f"--settings {shlex.quote(json.dumps(sae_variants()[wildcards.variant], sort_keys=True))}")
    return " ".join(args)


def sae_evals():
    return {v: f"results/sae/{SAE_MODEL}/{v}/eval-{SAE_EVAL['dataset']}.json" for v in sae_variants()}


def sae_table_args(wildcards=None):
    v = sae_variants()
    args = [f"--eval {n}={p}" for n, p in sae_evals().items()]
    sweep = [n for n in v if n.startswith("k") and n[1:].isdigit()]
    if sweep:
        args.append(f"--sweep {' '.join(sweep)}")
    if "lambda0" in v:
        args.append("--pair main:lambda0")
    return " ".join(args)


def sae_option_args(block, keys):
    b = SAE.get(block) or {}
    out = []
    for k in keys:
        if k in b:
            v = b[k]
            val = " ".join(map(str, v)) if isinstance(v, list) else str(v)
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
    )
