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

__all__ = ["check_config", "coerce_overrides", "explain_validation_error", "merge", "model_datasets"]


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
    for s in (ablation.get("dose") or {}).get("schemes") or []:
        kind, _, d = s.partition(":")
        if s != "F_A" and (kind not in ("P", "N", "F") or d not in nig_datasets):
            _fail(
                f"ablation.dose.schemes names '{s}'; the dose-response needs a scheme with a ranking of its own: "
                "P:, N: or F:<a nig dataset>, or F_A (intersections have none)"
            )

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


# ------------------------------------------------------------------------- command-line overrides, errors
def _resolve(node: dict, root: dict) -> dict:
    """``node`` with a local ``$ref`` (``#/$defs/...``) followed."""
    while isinstance(node, dict) and "$ref" in node:
        target: object = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]  # type: ignore[index]
        node = target  # type: ignore[assignment]
    return node


def _types(node: dict, root: dict) -> set[str]:
    """Every JSON type ``node`` admits, including those of its ``oneOf``/``anyOf`` branches."""
    node = _resolve(node, root)
    found = node.get("type", [])
    types = {found} if isinstance(found, str) else set(found)
    for key in ("oneOf", "anyOf"):
        for branch in node.get(key, []):
            types |= _types(branch, root)
    return types


def _child(node: dict, key: str, root: dict) -> dict | None:
    """The schema of ``key`` inside the object schema ``node`` (properties, then additionalProperties)."""
    node = _resolve(node, root)
    for branch in [node, *node.get("oneOf", []), *node.get("anyOf", [])]:
        branch = _resolve(branch, root)
        if key in branch.get("properties", {}):
            return branch["properties"][key]
        extra = branch.get("additionalProperties")
        if isinstance(extra, dict):
            return extra
    return None


def _items(node: dict, root: dict) -> dict | None:
    node = _resolve(node, root)
    for branch in [node, *node.get("oneOf", []), *node.get("anyOf", [])]:
        branch = _resolve(branch, root)
        if isinstance(branch.get("items"), dict):
            return branch["items"]
    return None


def _coerce(value: object, node: dict | None, root: dict, loads) -> object:
    if node is None:
        return value
    if isinstance(value, dict):
        return {k: _coerce(v, _child(node, k, root), root, loads) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce(v, _items(node, root), root, loads) for v in value]
    if not isinstance(value, str):
        return value
    types = _types(node, root)
    if not types or ("string" in types and not ("null" in types and value in ("null", "~", ""))):
        return value
    try:
        parsed = loads(value)
    except Exception:  # not YAML: leave it to the schema to name the key
        return value
    if isinstance(parsed, str) and "number" in types:  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    return value if isinstance(parsed, str) else _coerce(parsed, node, root, loads)


def coerce_overrides(overrides: dict, schema: dict, loads=None) -> dict:
    """Command-line ``--config`` values with the types the schema asks for.

    Snakemake reads ``--config key=value`` itself: a top-level number or boolean keeps its type, but a nested
    value (``--config 'ig={queries: 0, shards: 2}'``) is parsed with YAML's BaseLoader, so every scalar in it
    arrives as a string. This walks ``overrides`` along ``schema`` and parses (with ``loads``, YAML by
    default) each string whose schema admits no string — numbers, booleans, null, lists written as
    ``[a, b]`` — leaving strings where the schema wants strings. The result is meant to be merged over the
    config again (mappings merge, lists replace), before validation.
    """
    if loads is None:
        import yaml  # Snakemake's own dependency; only needed when there are overrides

        loads = yaml.safe_load
    return _coerce(dict(overrides), schema, schema, loads)  # type: ignore[return-value]


def merge(config: dict, overlay: dict) -> dict:
    """Merge ``overlay`` into ``config`` in place the way Snakemake does: mappings merge, the rest replaces."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = value
    return config


def explain_validation_error(config: dict, schema: dict, schema_path: str) -> str:
    """One short message for why ``config`` fails ``schema``: the dotted key, what is wrong and, for an unknown
    key, the nearest valid names (instead of Snakemake's dump of the whole schema). Needs ``jsonschema``."""
    import difflib

    import jsonschema

    found = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if found is None:
        return f"config: does not match {schema_path}"
    path = list(found.absolute_path)
    where = ".".join(str(p) for p in path) or "top level"
    if found.validator == "additionalProperties" and isinstance(found.instance, dict):
        node: dict | None = schema
        for part in path:
            node = _child(node, str(part), schema) if node is not None else None
        node = _resolve(node or {}, schema)
        valid = sorted(node.get("properties", {}))
        unknown = sorted(k for k in found.instance if k not in valid)
        prefix = where + "." if path else ""
        parts = []
        for key in unknown:
            near = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
            hint = f" (did you mean {' or '.join(prefix + n for n in near)}?)" if near else ""
            parts.append(f"'{prefix}{key}'{hint}")
        return (
            f"config: unknown key {', '.join(parts)}; valid keys {'in ' + where if path else 'at the top level'}: "
            f"{', '.join(valid)} (see {schema_path})"
        )
    message = found.message
    if len(message) > 200:
        message = message[:200] + "…"
    return f"config key {where}: {message} (see {schema_path})"
