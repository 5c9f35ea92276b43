# Input/param functions of the cross-encoder stage (cross_encoder.smk); NIG, ablation and GPL use them too.
# A reranker the pipeline trains itself (cross_encoder.id null) or a given one (id = HF id / folder).
# Without a cross_encoder block there is no reranker: the {ce} rules match nothing.
CE = config.get("cross_encoder") or {}
CE_NAME = CE["name"] if CE else None
CE_NAME_RE = re.escape(CE_NAME) if CE else "^$"  # constraint of the {ce} wildcard
CE_THREADS = CE["threads"] if CE else 1
CE_TRAIN = CE["train"] if CE else {}
CE_RERANK = CE["rerank"] if CE else {}
CE_DATASETS = list(CE_RERANK["datasets"]) if CE else []


def ce_trained():
    """True when the pipeline trains the reranker (cross_encoder configured with id null)."""
    return bool(CE) and not CE["id"]


def ce_model_folder():
    return f"results/cross_encoder/{CE_NAME}/model"


def ce_model_path():
    """What `--model` gets for the cross-encoder: the trained folder, or the configured HF id/folder."""
    return ce_model_folder() if ce_trained() else CE["id"]


def ce_model_input(wildcards=None):
    """The trained folder as an input dependency ([] when a given reranker is used)."""
    return [ce_model_folder()] if ce_trained() else []


def ce_model_args():
    """--model, --max-length, --relevant-label, --device and --local-dir for commands loading the reranker."""
    args = [f"--model {quoted(ce_model_path())} {device_args()}"]
    if CE["max_length"]:
        args.append(f"--max-length {CE['max_length']}")
    if CE["relevant_label"] is not None:
        args.append(f"--relevant-label {CE['relevant_label']}")
    return " ".join(args + local_dir_args())


def ce_train_data(wildcards):
    return f"results/data/{CE_TRAIN['dataset']}/manifest.json"


def ce_train_args(wildcards):
    t = CE_TRAIN
    args = [
        f"--base {quoted(t['base'])}",
        f"--data results/data/{t['dataset']} --split {quoted(t['split'])}",
        # max_length null means the model's limit when scoring; training needs a fixed length
        f"--steps {t['steps']} --batch {t['batch']} --max-length {CE['max_length'] or 128}",
        f"--lr {t['lr']} --head-lr {t['head_lr'] or t['lr']} --warmup {t['warmup']}"
        f" --negatives-depth {t['negatives_depth']}",
        f"--seed {config['seed']} --checkpoint-every {t['checkpoint_every']} {device_args()}",
    ]
    return " ".join(args + local_dir_args())


def ce_rerank_args(wildcards):
    return (
        f"{ce_model_args()} --model-label {quoted(ce_model_path())} --label {wildcards.ce} --first-stage bm25"
        f" --depth {CE_RERANK['depth']} --max-tokens {CE_RERANK['max_tokens']} --max-batch {CE_RERANK['max_batch']}"
    )


def ce_table_metrics():
    """BM25 and dense metrics of the reranked datasets, then the reranker's."""
    return run_files(CE_DATASETS) + expand(
        "results/rerank/{dataset}/{ce}/metrics.json", dataset=CE_DATASETS, ce=CE_NAME
    )


def ce_in_domain():
    """Datasets the reranker was trained on (tagged ID in the table); none for a given reranker."""
    return CE_TRAIN["dataset"] if ce_trained() else ""


def ce_targets():
    if not (CE and CE_DATASETS):
        return []
    out = expand(
        "results/rerank/{dataset}/{ce}/{f}",
        dataset=CE_DATASETS,
        ce=CE_NAME,
        f=["run.trec", "metrics.json", "per_query.tsv"],
    )
    return (
        out + ["reports/tables/cross_encoder/rerank.md", "reports/tables/cross_encoder/rerank.csv"] + ce_model_input()
    )
