"""Cross-key checks of the workflow configuration (config.yaml overlaid with presets/*.yaml).

``workflow/schemas/config.schema.yaml`` checks every key on its own and is the one home of the defaults
(``snakemake.utils.validate`` fills them in). What a JSON schema cannot say lives here: names used in one
block must be keys of another (``retrieval.dense`` -> ``models``, ``ig.datasets`` -> ``datasets``, ...),
splits a stage reads must be kept, and stages that depend on each other must be configured together.

The workflow calls :func:`check_config` right after the schema validation. This module imports only the
standard library and :mod:`irlens.errors`, so Snakemake can import it from an environment without
torch or pandas (``workflow/rules/common.smk`` puts this checkout's ``src`` first on ``sys.path``).
"""

from __future__ import annotations

from irlens.errors import IrlensError

__all__ = ["check_config", "model_datasets"]


def _section(config: dict, name: str) -> dict:
    """An optional top-level block; absent (or empty) means the stage is off."""
    return config.get(name) or {}


def model_datasets(config: dict, model: str) -> list[str]:
    """Datasets a dense model is evaluated on: ``models.<model>.datasets``, or all of them (config order)."""
    datasets = list(config["datasets"])
    chosen = config["models"][model].get("datasets") or datasets
    return [d for d in datasets if d in chosen]


def _fail(message: str) -> None:
    raise IrlensError(f"config: {message}")


def check_config(config: dict) -> None:
    """Check the keys of ``config`` against each other; raise :class:`~irlens.errors.IrlensError` on the first problem.

    ``config`` is the merged configuration after validation against the schema with its defaults filled in
    (what ``snakemake.utils.validate(config, schema)`` leaves behind). The error message is one line that
    starts with ``config:`` and names the offending key. Returns ``None`` when everything fits together.
    """
    datasets = list(config["datasets"])
    dense = list(config["retrieval"]["dense"])

    def kept(dataset: str, split: str) -> bool:
        return split in config["datasets"][dataset]["splits"]

    # retrieval: dense models and the datasets they are evaluated on
    for m in dense:
        if m not in config["models"]:
            _fail(f"retrieval.dense names '{m}', which is not a key of models")
        for d in config["models"][m].get("datasets") or []:
            if d not in datasets:
                _fail(f"models.{m}.datasets names '{d}', which is not a key of datasets")

    # IG on bi-encoders: each model needs a run on each dataset
    ig = _section(config, "ig")
    ig_models, ig_datasets = list(ig.get("models") or []), list(ig.get("datasets") or [])
    for m in ig_models:
        if m not in dense:
            _fail(f"ig.models names '{m}', which has no run; add it to retrieval.dense")
    for d in ig_datasets:
        if d not in datasets:
            _fail(f"ig.datasets names '{d}', which is not a key of datasets")
        for m in ig_models:
            if d not in model_datasets(config, m):
                _fail(f"ig.datasets names '{d}', but models.{m}.datasets leaves it out")
    if ig_models and ig_datasets and len(datasets) < 2:
        _fail("the IG in-domain term table needs a reference corpus; configure at least two datasets")

    # cross-encoder: reranked datasets; a reranker the pipeline trains needs its training split
    ce = _section(config, "cross_encoder")
    ce_trained = bool(ce) and not ce.get("id")
    ce_train = ce.get("train") or {}
    ce_datasets = list((ce.get("rerank") or {}).get("datasets") or [])
    for d in ce_datasets + ([ce_train["dataset"]] if ce_trained else []):
        if d not in datasets:
            _fail(f"cross_encoder names dataset '{d}', which is not a key of datasets")
    if ce_trained and not kept(ce_train["dataset"], ce_train["split"]):
        _fail(
            f"cross_encoder.train.split '{ce_train['split']}' is not kept for {ce_train['dataset']} "
            "(datasets.<name>.splits)"
        )

    # NIG (needs the cross-encoder and the BM25 run)
    nig = _section(config, "nig")
    nig_datasets = list(nig.get("datasets") or []) if ce else []
    for d in nig_datasets + list(nig.get("in_domain") or []):
        if d not in datasets:
            _fail(f"nig names dataset '{d}', which is not a key of datasets")
    if nig_datasets and not config["retrieval"]["bm25"]["enabled"]:
        _fail("nig draws non-relevant pairs from the BM25 run; set retrieval.bm25.enabled: true")

    # ablation (needs NIG): evaluation sets and their splits
    ablation = _section(config, "ablation") if nig_datasets else {}
    for d, eval_set in (ablation.get("eval_sets") or {}).items():
        if d not in datasets:
            _fail(f"ablation.eval_sets names dataset '{d}', which is not a key of datasets")
        if not kept(d, eval_set["split"]):
            _fail(f"ablation.eval_sets.{d}.split '{eval_set['split']}' is not kept for {d} (datasets.{d}.splits)")

    # GPL: bases, target corpora, the split train-queries reads, a teacher
    gpl = _section(config, "gpl")
    gpl_bases, gpl_datasets = list(gpl.get("base") or []), list(gpl.get("datasets") or [])
    queries = gpl.get("queries") or {}
    for m in gpl_bases:
        if m not in config["models"]:
            _fail(f"gpl.base names '{m}', which is not a key of models")
    for d in gpl_datasets:
        if d not in datasets:
            _fail(f"gpl.datasets names '{d}', which is not a key of datasets")
        if queries["backend"] == "train-queries" and not kept(d, queries["split"]):
            _fail(
                f"gpl.queries.backend train-queries needs split '{queries['split']}' of {d}; "
                f"keep it in datasets.{d}.splits or use ict / t5"
            )
    if gpl_bases and gpl_datasets and not gpl.get("teacher") and not ce:
        _fail("gpl needs a teacher: set gpl.teacher, or configure cross_encoder (the pipeline's reranker)")

    # SAE: one dense model's cached embeddings on the train and evaluation datasets
    sae = _section(config, "sae")
    if sae:
        model, sae_eval = sae["model"], sae["eval"]
        if model not in dense:
            _fail(f"sae.model '{model}' has no cached embeddings; add it to retrieval.dense")
        for d in list(sae["train_datasets"]) + [sae_eval["dataset"]]:
            if d not in datasets:
                _fail(f"sae names dataset '{d}', which is not a key of datasets")
            if d not in model_datasets(config, model):
                _fail(f"sae names dataset '{d}', but models.{model}.datasets leaves it out")
        if not kept(sae_eval["dataset"], sae_eval["split"]):
            _fail(
                f"sae.eval.split '{sae_eval['split']}' is not kept for {sae_eval['dataset']} (datasets.<name>.splits)"
            )
