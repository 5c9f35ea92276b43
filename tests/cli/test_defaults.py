"""One home for defaults: a CLI flag the workflow fills from config defaults to the config schema's default.

Someone running ``irlens <stage> <step>`` by hand must get what the pipeline computes with the default config.
The rules (``workflow/rules/<stage>.smk`` and their ``<stage>_functions.smk`` argument builders) pass these
flags from config keys; this test builds the parser (:func:`irlens.cli.build_parser`), reads
``workflow/schemas/config.schema.yaml`` and compares, like the environment pin test.

Every flag a rule fills from config is in exactly one of three tables, keyed by the command path and the flag,
e.g. ``("ig", "attribute", "--queries")`` (``("data", "--seed")`` for a command without steps):

``SAME``
    the flag's argparse default equals the schema ``default`` of the key. The value is the key, or
    ``(key, convert)`` where the rule converts the config value before passing it (``convert`` maps the schema
    default to what the flag holds, e.g. a list joined with commas).
``NO_SCHEMA_DEFAULT``
    the key has no schema default (a required key such as ``seed``, or a per-entry value such as
    ``datasets.*.eval_split``). The test checks that the schema still has none: once it gets one, move the
    flag to ``SAME``.
``DIFFERENT``
    the CLI default deliberately differs, with the reason: a required flag, a value the rule derives (model ids,
    paths), a repeatable flag (``action="append"`` would add to a default list), ``--threads`` (Snakemake's
    ``threads:`` resource, scaled down to ``--cores``), or a key whose null the rule expresses by leaving the
    flag out (a CLI default equal to the schema's would turn that null into the default). The test checks the
    flag is still required or still differs: once it agrees, move it to ``SAME``.

Key paths are dot-separated schema properties; ``*`` is any entry of a mapping (``additionalProperties``),
``[]`` the items of an array; ``$ref`` (``$defs`` / ``definitions``) and ``oneOf``/``anyOf``/``allOf``
branches are followed.

To extend: when a rule starts passing a flag from config (``--x {CFG['y']}`` in an argument builder, or a
``params:`` value used in ``shell:``), add ``(stage, step, "--x"): "stage.y"`` to ``SAME`` and give the flag
that default (the schema is the one home of defaults; change the CLI, not the schema, unless the schema is
wrong), or add it to ``NO_SCHEMA_DEFAULT`` / ``DIFFERENT`` with the reason. Options that ``sae_option_args``
passes only when the config sets them (``sae.interpret``, ``sae.control``) rely on the CLI default outright.
"""

from __future__ import annotations

import argparse

import pytest
import yaml

from irlens.cli import build_parser

from conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def joined(value):
    """``--sides document,query`` from ``[document, query]``."""
    return ",".join(value)


def zero_if_null(value):
    """``--passages {cfg['passages'] or 0}``: null (all passages) is 0."""
    return value or 0


def positive(value):
    """``--sentences`` (store_true) when ``sae.sentences_per_doc`` > 0."""
    return bool(value)


SAME = {
    # data
    ("data", "--subsample-distractors"): "data.subsample.distractors",
    ("data", "--empty-texts"): "data.empty_texts",
    ("data", "--dangling-qrels"): "data.dangling_qrels",
    # retrieval
    ("retrieval", "encode", "--max-tokens"): "retrieval.encode.max_tokens",
    ("retrieval", "encode", "--max-batch"): "retrieval.encode.max_batch",
    ("retrieval", "encode", "--device"): "retrieval.device",
    ("retrieval", "retrieve", "--score"): "models.*.score",
    ("retrieval", "retrieve", "--k1"): "retrieval.bm25.k1",
    ("retrieval", "retrieve", "--b"): "retrieval.bm25.b",
    ("retrieval", "retrieve", "--stemmer"): "retrieval.bm25.stemmer",
    # cross-encoder
    ("cross-encoder", "train", "--base"): "cross_encoder.train.base",
    ("cross-encoder", "train", "--split"): "cross_encoder.train.split",
    ("cross-encoder", "train", "--steps"): "cross_encoder.train.steps",
    ("cross-encoder", "train", "--batch"): "cross_encoder.train.batch",
    ("cross-encoder", "train", "--max-length"): "cross_encoder.max_length",  # rule: max_length or 128
    ("cross-encoder", "train", "--lr"): "cross_encoder.train.lr",
    ("cross-encoder", "train", "--head-lr"): "cross_encoder.train.head_lr",  # null: --lr (rule: head_lr or lr)
    ("cross-encoder", "train", "--warmup"): "cross_encoder.train.warmup",
    ("cross-encoder", "train", "--negatives-depth"): "cross_encoder.train.negatives_depth",
    ("cross-encoder", "train", "--checkpoint-every"): "cross_encoder.train.checkpoint_every",
    ("cross-encoder", "train", "--device"): "retrieval.device",
    ("cross-encoder", "rerank", "--depth"): "cross_encoder.rerank.depth",
    ("cross-encoder", "rerank", "--max-tokens"): "cross_encoder.rerank.max_tokens",
    ("cross-encoder", "rerank", "--max-batch"): "cross_encoder.rerank.max_batch",
    ("cross-encoder", "rerank", "--relevant-label"): "cross_encoder.relevant_label",
    ("cross-encoder", "rerank", "--device"): "retrieval.device",
    # gpl
    ("gpl", "queries", "--split"): "gpl.queries.split",
    ("gpl", "queries", "--qpp"): "gpl.queries.qpp",
    ("gpl", "queries", "--passages"): ("gpl.queries.passages", zero_if_null),
    ("gpl", "queries", "--generator"): "gpl.queries.generator",
    ("gpl", "queries", "--batch"): "gpl.queries.batch",
    ("gpl", "queries", "--max-length"): "gpl.queries.max_length",
    ("gpl", "queries", "--top-p"): "gpl.queries.top_p",
    ("gpl", "queries", "--top-k"): "gpl.queries.top_k",
    ("gpl", "queries", "--min-words"): "gpl.queries.min_words",
    ("gpl", "queries", "--max-words"): "gpl.queries.max_words",
    ("gpl", "queries", "--device"): "retrieval.device",
    ("gpl", "negatives", "--k"): "gpl.negatives.k",
    ("gpl", "negatives", "--score"): "gpl.negatives.score",
    ("gpl", "negatives", "--device"): "retrieval.device",
    ("gpl", "teacher-check", "--queries"): "gpl.teacher_check.queries",
    ("gpl", "teacher-check", "--depth"): "gpl.teacher_check.depth",
    ("gpl", "teacher-check", "--score"): "models.*.score",
    ("gpl", "teacher-check", "--ce-max-length"): "gpl.pseudo_labels.ce_max_length",
    ("gpl", "teacher-check", "--relevant-label"): "gpl.pseudo_labels.relevant_label",
    ("gpl", "teacher-check", "--max-tokens"): "gpl.pseudo_labels.max_tokens",
    ("gpl", "teacher-check", "--max-batch"): "gpl.pseudo_labels.max_batch",
    ("gpl", "teacher-check", "--device"): "retrieval.device",
    ("gpl", "pseudo-labels", "--require-stronger-teacher"): "gpl.require_stronger_teacher",
    ("gpl", "pseudo-labels", "--ensemble"): "gpl.teacher_ensemble",
    ("gpl", "teacher-check", "--ensemble"): "gpl.teacher_ensemble",
    ("gpl", "teacher-check", "--k1"): "retrieval.bm25.k1",
    ("gpl", "teacher-check", "--b"): "retrieval.bm25.b",
    ("gpl", "teacher-check", "--stemmer"): "retrieval.bm25.stemmer",
    ("gpl", "pseudo-labels", "--max-length"): "gpl.pseudo_labels.max_length",
    ("gpl", "pseudo-labels", "--ce-max-length"): "gpl.pseudo_labels.ce_max_length",
    ("gpl", "pseudo-labels", "--relevant-label"): "gpl.pseudo_labels.relevant_label",
    ("gpl", "pseudo-labels", "--chunk"): "gpl.pseudo_labels.chunk",
    ("gpl", "pseudo-labels", "--max-tokens"): "gpl.pseudo_labels.max_tokens",
    ("gpl", "pseudo-labels", "--max-batch"): "gpl.pseudo_labels.max_batch",
    ("gpl", "pseudo-labels", "--device"): "retrieval.device",
    ("gpl", "train", "--steps"): "gpl.train.steps",
    ("gpl", "train", "--batch"): "gpl.train.batch",
    ("gpl", "train", "--max-length"): "gpl.train.max_length",
    ("gpl", "train", "--lr"): "gpl.train.lr",
    ("gpl", "train", "--warmup-steps"): "gpl.train.warmup_steps",
    ("gpl", "train", "--weight-decay"): "gpl.train.weight_decay",
    ("gpl", "train", "--checkpoint-every"): "gpl.train.checkpoint_every",
    ("gpl", "train", "--log-every"): "gpl.train.log_every",
    ("gpl", "train", "--device"): "retrieval.device",  # gpl.train.device null (default): retrieval.device
    ("gpl", "train", "--rescale-range"): "gpl.train.rescale_range",
    ("gpl", "evaluate", "--metrics"): "gpl.metrics",
    # ig
    ("ig", "attribute", "--split"): "ig.split",
    ("ig", "attribute", "--score"): "models.*.score",
    ("ig", "attribute", "--device"): "retrieval.device",
    ("ig", "attribute", "--queries"): "ig.queries",
    ("ig", "attribute", "--top-k"): "ig.top_k",
    ("ig", "attribute", "--sides"): ("ig.sides", joined),
    ("ig", "attribute", "--baseline"): "ig.baseline",
    ("ig", "attribute", "--method"): "ig.method",
    ("ig", "attribute", "--steps"): "ig.steps",
    ("ig", "attribute", "--max-steps"): "ig.max_steps",
    ("ig", "attribute", "--max-tokens"): "ig.max_tokens",
    ("ig", "attribute", "--shards"): "ig.shards",
    ("ig", "baselines", "--split"): "ig.split",
    ("ig", "baselines", "--score"): "models.*.score",
    ("ig", "baselines", "--device"): "retrieval.device",
    ("ig", "baselines", "--pairs"): "ig.baseline_pairs",
    ("ig", "wordclouds", "--words"): "ig.wordcloud_words",
    ("ig", "tables", "--domain-terms"): "ig.domain_terms",
    ("ig", "tables", "--domain-min-df"): "ig.domain_min_df",
    ("ig", "tables", "--domain-smoothing"): "ig.domain_smoothing",
    ("ig", "tables", "--bootstrap"): "ig.bootstrap",
    ("ig", "pairs", "--split"): "ig.split",
    ("ig", "pairs", "--queries"): "ig.queries",
    ("ig", "pairs", "--top-k"): "ig.top_k",
    # nig
    ("nig", "pairs", "--negatives-depth"): "nig.negatives_depth",
    ("nig", "pairs", "--pairs"): "nig.pairs",
    ("nig", "pairs", "--relevant-label"): "cross_encoder.relevant_label",
    ("nig", "pairs", "--device"): "retrieval.device",
    ("nig", "attribute", "--baseline"): "nig.baseline",
    ("nig", "attribute", "--rule"): "nig.rule",
    ("nig", "attribute", "--steps"): "nig.steps",
    ("nig", "attribute", "--max-tokens"): "nig.max_tokens",
    ("nig", "attribute", "--shards"): "nig.shards",
    ("nig", "attribute", "--relevant-label"): "cross_encoder.relevant_label",
    ("nig", "attribute", "--device"): "retrieval.device",
    ("nig", "baselines", "--max-pairs"): "nig.baseline_pairs",
    ("nig", "baselines", "--relevant-label"): "cross_encoder.relevant_label",
    ("nig", "baselines", "--device"): "retrieval.device",
    ("nig", "schemes", "--in-domain"): "nig.in_domain",
    ("nig", "schemes", "--levels"): "nig.levels",
    ("nig", "schemes", "--rank-by"): "nig.rank_by",
    ("nig", "schemes", "--unjudged-negatives"): "nig.unjudged_negatives",
    ("nig", "figures", "--fig4-scheme"): "nig.fig4_scheme",
    ("nig", "figures", "--fig4-level"): "nig.fig4_level",
    # ablation
    ("ablation", "evalset", "--role"): "ablation.eval_sets.*.role",
    ("ablation", "evalset", "--queries"): "ablation.queries",
    ("ablation", "evalset", "--depth"): "ablation.depth",
    ("ablation", "evalset", "--max-relevant"): "ablation.max_relevant",
    ("ablation", "run", "--repeats"): "ablation.repeats",
    ("ablation", "run", "--shards"): "ablation.shards",
    ("ablation", "run", "--max-rows"): "ablation.max_rows",
    ("ablation", "run", "--cache-mb"): "ablation.cache_mb",
    ("ablation", "run", "--relevant-label"): "cross_encoder.relevant_label",
    ("ablation", "run", "--device"): "retrieval.device",
    ("ablation", "merge", "--repeats"): "ablation.repeats",
    ("ablation", "table", "--correction"): "ablation.correction",
    ("ablation", "figure", "--correction"): "ablation.correction",
    ("ablation", "dose", "--counts"): "ablation.dose.counts",
    ("ablation", "dose", "--repeats"): "ablation.dose.repeats",
    ("ablation", "dose", "--max-pairs"): "ablation.dose.max_pairs",
    ("ablation", "dose", "--correction"): "ablation.dose.correction",
    ("ablation", "dose", "--max-rows"): "ablation.max_rows",
    ("ablation", "dose", "--cache-mb"): "ablation.cache_mb",
    ("ablation", "dose", "--relevant-label"): "cross_encoder.relevant_label",
    ("ablation", "dose", "--device"): "retrieval.device",
    # sae
    ("sae", "train", "--preset"): "sae.preset",
    ("sae", "train", "--sentences"): ("sae.sentences_per_doc", positive),
    ("sae", "train", "--device"): "retrieval.device",
    ("sae", "interpret", "--device"): "retrieval.device",
    ("sae", "interpret", "--latents"): "sae.interpret.latents",
    ("sae", "interpret", "--top"): "sae.interpret.top",
    ("sae", "interpret", "--words"): "sae.interpret.words",
    ("sae", "interpret", "--n2g-examples"): "sae.interpret.n2g_examples",
    ("sae", "interpret", "--n2g-eval"): "sae.interpret.n2g_eval",
    ("sae", "control", "--latents"): "sae.control.latents",
    ("sae", "control", "--targets"): "sae.control.targets",
    ("sae", "control", "--mode"): "sae.control.mode",
    ("sae", "control", "--prf-feedback-k"): "sae.control.prf_feedback_k",
    ("sae", "control", "--prf-latents"): "sae.control.prf_latents",
}

NO_SCHEMA_DEFAULT = {
    ("data", "--mirror"): "data.mirrors",
    ("data", "--download-dir"): "data.download_dir",
    ("data", "--irds"): "data.ir_datasets.*",
    ("data", "--split"): "datasets.*.splits",
    ("data", "--subsample-queries"): "data.subsample.queries",
    ("data", "--seed"): "seed",
    ("retrieval", "encode", "--max-seq-length"): "models.*.max_seq_length",
    ("retrieval", "encode", "--seed"): "seed",
    ("retrieval", "retrieve", "--split"): "datasets.*.eval_split",
    ("retrieval", "retrieve", "--k"): "retrieval.k",
    ("retrieval", "evaluate", "--split"): "datasets.*.eval_split",
    ("cross-encoder", "train", "--seed"): "seed",
    ("cross-encoder", "rerank", "--split"): "datasets.*.eval_split",
    ("gpl", "queries", "--seed"): "seed",
    ("gpl", "pseudo-labels", "--seed"): "seed",
    ("gpl", "teacher-check", "--seed"): "seed",
    ("gpl", "teacher-check", "--eval-split"): "datasets.*.eval_split",
    ("gpl", "train", "--seed"): "seed",
    ("ig", "attribute", "--max-seq-length"): "models.*.max_seq_length",
    ("ig", "attribute", "--seed"): "seed",
    ("ig", "baselines", "--max-seq-length"): "models.*.max_seq_length",
    ("ig", "baselines", "--seed"): "seed",
    ("ig", "pairs", "--seed"): "seed",
    ("ig", "tables", "--seed"): "seed",
    ("ig", "wordclouds", "--seed"): "seed",
    ("nig", "pairs", "--split"): "datasets.*.eval_split",
    ("nig", "pairs", "--seed"): "seed",
    ("nig", "attribute", "--split"): "datasets.*.eval_split",
    ("ablation", "evalset", "--split"): "ablation.eval_sets.*.split",
    ("ablation", "evalset", "--seed"): "seed",
    ("ablation", "run", "--schemes"): "ablation.schemes",
    ("ablation", "run", "--seed"): "seed",
    ("ablation", "dose", "--seed"): "seed",
    ("sae", "train", "--seed"): "seed",
    ("sae", "interpret", "--seed"): "seed",
    ("sae", "control", "--values"): "sae.control.values",
}

REQUIRED = "a required flag"
DERIVED = "the rule passes a value derived from the key, not the key"
APPEND = "repeatable flag: a default list would be extended, not replaced, by the rule's --local-dir"
PINS = "repeatable flag: one --pin <id>=<sha256> per entry of the mapping (none by default)"
NULL_IS_LIMIT = "the rule leaves the flag out when the key is null (null: the model's limit)"
THREADS = "Snakemake's threads: resource (scaled down to --cores); unset = torch's default"
NULL_OMITTED = (
    "the rule leaves the flag out when the key is null; the schema's default as CLI default would turn null into it"
)

DIFFERENT = {
    # required flags, values the rule derives
    ("cross-encoder", "train", "--data"): ("cross_encoder.train.dataset", DERIVED + " (results/data/<dataset>)"),
    ("cross-encoder", "table", "--in-domain"): (
        "cross_encoder.train.dataset",
        DERIVED + " (none for a given reranker)",
    ),
    ("gpl", "queries", "--backend"): ("gpl.queries.backend", REQUIRED),
    ("gpl", "negatives", "--miners"): ("gpl.negatives.miners", DERIVED + " (model keys and 'base' resolved to ids)"),
    ("gpl", "pseudo-labels", "--teacher"): ("gpl.teacher", REQUIRED + "; null = the pipeline's cross-encoder"),
    ("gpl", "pseudo-labels", "--student-model"): ("gpl.base", DERIVED + " (the base's model id)"),
    ("gpl", "teacher-check", "--teacher"): ("gpl.teacher", REQUIRED + "; null = the pipeline's cross-encoder"),
    ("gpl", "teacher-check", "--split"): ("gpl.teacher_check.split", REQUIRED + "; null = the dataset's eval_split"),
    ("gpl", "pseudo-labels", "--steps"): ("gpl.train.steps", REQUIRED),
    ("gpl", "pseudo-labels", "--batch"): ("gpl.train.batch", REQUIRED),
    ("gpl", "train", "--base"): ("gpl.base", REQUIRED + "; the {base} wildcard resolved to a model id"),
    ("ablation", "run", "--levels"): ("ablation.levels", REQUIRED + "; null = nig.levels"),
    ("ablation", "table", "--role"): ("ablation.eval_sets.*.role", DERIVED + " (<set>=<role>, non-empty roles only)"),
    ("sae", "train", "--settings"): ("sae.settings", DERIVED + " (JSON of the variant's settings)"),
    ("retrieval", "encode", "--sentences-per-doc"): (
        "sae.sentences_per_doc",
        "passed with --side sentences only, which needs >= 1; the key's 0 means no sentences side at all",
    ),
    # null expressed by leaving the flag out
    ("ig", "attribute", "--tol"): ("ig.tol", NULL_OMITTED + " (null: fixed steps)"),
    ("cross-encoder", "rerank", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    ("nig", "pairs", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    ("nig", "attribute", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    ("nig", "baselines", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    ("ablation", "run", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    ("ablation", "dose", "--max-length"): ("cross_encoder.max_length", NULL_IS_LIMIT),
    # --local-dir and --pin (local_dir_args() passes both)
    **{
        (*cmd, flag): spec
        for flag, spec in (
            ("--local-dir", ("resources.model_dirs", APPEND)),
            ("--pin", ("resources.model_sha256", PINS)),
        )
        for cmd in [
            ("retrieval", "encode"),
            ("cross-encoder", "train"),
            ("cross-encoder", "rerank"),
            ("gpl", "queries"),
            ("gpl", "negatives"),
            ("gpl", "pseudo-labels"),
            ("gpl", "train"),
            ("ig", "attribute"),
            ("ig", "baselines"),
            ("nig", "pairs"),
            ("nig", "attribute"),
            ("nig", "baselines"),
            ("ablation", "run"),
            ("ablation", "dose"),
            ("sae", "interpret"),
        ]
    },
    # --threads
    ("retrieval", "encode", "--threads"): ("retrieval.encode.threads", THREADS),
    ("cross-encoder", "train", "--threads"): ("cross_encoder.threads", THREADS),
    ("cross-encoder", "rerank", "--threads"): ("cross_encoder.threads", THREADS),
    ("gpl", "queries", "--threads"): ("gpl.threads", THREADS),
    ("gpl", "negatives", "--threads"): ("gpl.threads", THREADS),
    ("gpl", "pseudo-labels", "--threads"): ("gpl.threads", THREADS),
    ("gpl", "train", "--threads"): ("gpl.threads", THREADS),
    ("ig", "attribute", "--threads"): ("ig.threads", THREADS),
    ("ig", "baselines", "--threads"): ("ig.threads", THREADS),
    ("nig", "pairs", "--threads"): ("nig.threads", THREADS),
    ("nig", "attribute", "--threads"): ("nig.threads", THREADS),
    ("nig", "baselines", "--threads"): ("nig.threads", THREADS),
    ("ablation", "run", "--threads"): ("ablation.threads", THREADS),
    ("ablation", "dose", "--threads"): ("ablation.threads", THREADS),
    ("sae", "train", "--threads"): ("sae.threads", THREADS),
    ("sae", "evaluate", "--threads"): ("sae.threads", THREADS + "; sae.eval_threads when set"),
    ("sae", "interpret", "--threads"): ("sae.threads", THREADS),
    ("sae", "control", "--threads"): ("sae.threads", THREADS),
}


# ---------------------------------------------------------------------------------------------- schema
_ABSENT = object()


def _resolve(node):
    """``node`` with its ``$ref`` (``#/$defs/...`` or ``#/definitions/...``) merged in; siblings win."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $ref is supported: {ref}"
        target = SCHEMA
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _child(node, part: str, path: str):
    node = _resolve(node)
    if part == "*":
        found = node.get("additionalProperties")
        found = found if isinstance(found, dict) else None
    elif part == "[]":
        found = node.get("items")
    else:
        found = node.get("properties", {}).get(part)
    if found is None:
        for branch in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
            try:
                return _child(branch, part, path)
            except KeyError:
                pass
        raise KeyError(f"config schema has no key {path!r} (at {part!r})")
    return _resolve(found)


def schema_default(path: str):
    """The schema ``default`` of the key ``path`` (``_ABSENT`` when it has none); KeyError if no such key."""
    node = SCHEMA
    for part in path.split("."):
        node = _child(node, part, path)
    return node.get("default", _ABSENT)


# ---------------------------------------------------------------------------------------------- parser
@pytest.fixture(scope="module")
def parser():
    return build_parser()


def flag_action(parser: argparse.ArgumentParser, where: tuple[str, ...]) -> argparse.Action:
    *commands, flag = where
    p = parser
    for name in commands:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        assert subs and name in subs[0].choices, f"irlens {' '.join(commands)}: no command {name!r}"
        p = subs[0].choices[name]
    for action in p._actions:
        if flag in action.option_strings:
            return action
    raise AssertionError(f"irlens {' '.join(commands)} has no flag {flag}")


def _id(where):
    return " ".join(where)


def _spec(value):
    return value if isinstance(value, tuple) else (value, None)


# ----------------------------------------------------------------------------------------------- tests
def test_tables_are_disjoint():
    assert not set(SAME) & set(NO_SCHEMA_DEFAULT)
    assert not set(SAME) & set(DIFFERENT)
    assert not set(NO_SCHEMA_DEFAULT) & set(DIFFERENT)


@pytest.mark.parametrize("where", list(SAME), ids=_id)
def test_flag_default_is_the_schema_default(parser, where):
    key, convert = _spec(SAME[where])
    default = schema_default(key)
    assert default is not _ABSENT, f"{key} has no schema default: move irlens {_id(where)} to NO_SCHEMA_DEFAULT"
    expected = convert(default) if convert else default
    got = flag_action(parser, where).default
    same = got == expected and isinstance(got, bool) == isinstance(expected, bool)  # 1 == True, but not a flag
    assert same, f"irlens {_id(where)}: CLI default {got!r} != schema default of {key} {expected!r}"


@pytest.mark.parametrize("where", list(NO_SCHEMA_DEFAULT), ids=_id)
def test_key_without_schema_default(parser, where):
    key = NO_SCHEMA_DEFAULT[where]
    flag_action(parser, where)
    assert schema_default(key) is _ABSENT, f"{key} now has a schema default: move irlens {_id(where)} to SAME"


@pytest.mark.parametrize("where", list(DIFFERENT), ids=_id)
def test_known_difference_still_differs(parser, where):
    key, reason = DIFFERENT[where]
    action = flag_action(parser, where)
    default = schema_default(key)
    assert reason
    assert action.required or default is _ABSENT or action.default != default, (
        f"irlens {_id(where)} now defaults to the schema default of {key}: move it to SAME"
    )
