"""irlens.config.check_config: the shipped configurations pass, and every cross-key check fails with its message.

Configurations are built as the workflow builds them: config.yaml, overlaid with presets (Snakemake's
update_config: mappings merge, lists replace), validated against the schema with its defaults filled in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from irlens.config import check_config, coerce_overrides, explain_validation_error, merge, model_datasets
from irlens.errors import IrlensError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
GIVEN_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"


def load(*presets: str, edit=None) -> dict:
    """config.yaml + presets (+ an edit of the raw merged config), validated with the schema's defaults."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in presets:
        update_config(cfg, yaml.safe_load((REPO / "presets" / name).read_text()))
    if edit is not None:
        edit(cfg)
    validate(cfg, str(SCHEMA))
    return cfg


@pytest.mark.parametrize("presets", [(), ("smoke.yaml",), ("paper.yaml",)], ids=["embedded", "smoke", "paper"])
def test_shipped_configs_pass(presets):
    cfg = load(*presets)
    assert cfg["retrieval"]["bm25"]["enabled"] is True  # the schema's defaults are in place
    assert check_config(cfg) is None


def test_model_datasets_follow_config_order():
    cfg = load("paper.yaml")
    assert model_datasets(cfg, "minilm-gpl-scifact") == ["scifact"]
    assert model_datasets(cfg, "distilbert-gpl-fiqa") == ["trec-covid", "fiqa"]
    assert model_datasets(cfg, "bge") == list(cfg["datasets"])


def _set(path: str, value):
    """An edit setting the dotted key ``path`` of the raw config to ``value``."""

    def edit(cfg):
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _delete(*keys: str):
    def edit(cfg):
        for key in keys:
            cfg.pop(key)

    return edit


def _only_scifact(cfg):
    cfg["datasets"].pop("nfcorpus")


# (id, edit of config.yaml, the message check_config must raise): one case per check at least
BAD = [
    (
        "dense-model",
        _set("retrieval.dense", ["minilm", "ghost"]),
        "config: retrieval.dense names 'ghost', which is not a key of models",
    ),
    (
        "model-datasets",
        _set("models.minilm.datasets", ["scifact", "ghost"]),
        "config: models.minilm.datasets names 'ghost', which is not a key of datasets",
    ),
    (
        "ig-model",
        _set("ig.models", ["minilm", "ghost"]),
        "config: ig.models names 'ghost', which has no run; add it to retrieval.dense",
    ),
    (
        "ig-dataset",
        _set("ig.datasets", ["scifact", "ghost"]),
        "config: ig.datasets names 'ghost', which is not a key of datasets",
    ),
    (
        "ig-dataset-not-evaluated",
        _set("ig.datasets", ["scifact", "nfcorpus"]),
        "config: ig.datasets names 'nfcorpus', but models.minilm-gpl-scifact.datasets leaves it out",
    ),
    (
        "ig-one-dataset",
        _only_scifact,
        "config: the IG in-domain term table needs a reference corpus; configure at least two datasets",
    ),
    (
        "ce-rerank-dataset",
        _set("cross_encoder.rerank.datasets", ["ghost"]),
        "config: cross_encoder names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "ce-train-dataset",
        _set("cross_encoder.train.dataset", "ghost"),
        "config: cross_encoder names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "ce-train-split",
        _set("cross_encoder.train.split", "dev"),
        "config: cross_encoder.train.split 'dev' is not kept for scifact (datasets.<name>.splits)",
    ),
    (
        "nig-dataset",
        _set("nig.datasets", ["scifact", "ghost"]),
        "config: nig names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "nig-in-domain",
        _set("nig.in_domain", ["ghost"]),
        "config: nig names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "nig-without-bm25",
        _set("retrieval.bm25", {"enabled": False}),
        "config: nig draws non-relevant pairs from the BM25 run; set retrieval.bm25.enabled: true",
    ),
    (
        "ablation-dataset",
        _set("ablation.eval_sets", {"ghost": {"split": "test"}}),
        "config: ablation.eval_sets names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "ablation-split",
        _set("ablation.eval_sets", {"scifact": {"split": "dev", "role": "ID"}}),
        "config: ablation.eval_sets.scifact.split 'dev' is not kept for scifact (datasets.scifact.splits)",
    ),
    (
        "ablation-dose-scheme",
        _set("ablation.dose.schemes", ["F_A", "AND_A:P"]),
        "config: ablation.dose.schemes names 'AND_A:P'; the dose-response needs a scheme with a ranking of its own: "
        "P:, N: or F:<a nig dataset>, or F_A (intersections have none)",
    ),
    ("gpl-base", _set("gpl.base", ["ghost"]), "config: gpl.base names 'ghost', which is not a key of models"),
    (
        "gpl-dataset",
        _set("gpl.datasets", ["ghost"]),
        "config: gpl.datasets names 'ghost', which is not a key of datasets",
    ),
    (
        "gpl-train-queries-split",
        _set("gpl.queries.split", "dev"),
        "config: gpl.queries.backend train-queries needs split 'dev' of scifact; keep it in datasets.scifact.splits "
        "or use ict / t5",
    ),
    (
        "gpl-teacher",
        _delete("cross_encoder", "nig", "ablation"),
        "config: gpl needs a teacher: set gpl.teacher, or configure cross_encoder (the pipeline's reranker)",
    ),
    (
        "sae-model",
        _set("sae.model", "ghost"),
        "config: sae.model 'ghost' has no cached embeddings; add it to retrieval.dense",
    ),
    (
        "sae-train-dataset",
        _set("sae.train_datasets", ["scifact", "ghost"]),
        "config: sae names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "sae-eval-dataset",
        _set("sae.eval", {"dataset": "ghost", "split": "test"}),
        "config: sae names dataset 'ghost', which is not a key of datasets",
    ),
    (
        "sae-dataset-not-evaluated",
        _set("sae.model", "minilm-gpl-scifact"),
        "config: sae names dataset 'nfcorpus', but models.minilm-gpl-scifact.datasets leaves it out",
    ),
    (
        "sae-eval-split",
        _set("sae.eval", {"dataset": "scifact", "split": "dev"}),
        "config: sae.eval.split 'dev' is not kept for scifact (datasets.<name>.splits)",
    ),
]


@pytest.mark.parametrize("edit,message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_each_check_fails_with_its_message(edit, message):
    cfg = load(edit=edit)
    with pytest.raises(IrlensError) as err:
        check_config(cfg)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "edit",
    [
        # a given reranker (id set) is not trained: its training split is not needed
        lambda cfg: cfg["cross_encoder"].update(id=GIVEN_RERANKER, train={"split": "nonexistent"}),
        # NIG, hence its BM25 pairs and the ablation, is off without a cross-encoder (GPL has its own teacher)
        lambda cfg: (
            cfg.pop("cross_encoder"),
            cfg["retrieval"]["bm25"].update(enabled=False),
            cfg["gpl"].update(teacher=GIVEN_RERANKER),
        ),
        # ict / t5 queries do not read a qrels split
        lambda cfg: cfg["gpl"]["queries"].update(backend="ict", split="dev"),
        # stages left out entirely
        _delete("ig", "cross_encoder", "nig", "ablation", "gpl", "sae"),
    ],
    ids=["ce-given-id", "no-cross-encoder", "gpl-ict", "stages-off"],
)
def test_checks_apply_only_where_they_matter(edit):
    assert check_config(load(edit=edit)) is None


def test_imports_only_the_standard_library():
    code = (
        "import sys, irlens.config\n"
        "heavy = {'snakemake', 'torch', 'pandas', 'numpy', 'yaml', 'jsonschema'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_workflow_reports_the_message(tmp_path):
    """A bad config stops Snakemake before any job, with check_config's one-line message."""
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(REPO / "config.yaml"),
            "--config",
            "ig={'models': ['ghost']}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode != 0
    assert "config: ig.models names 'ghost', which has no run; add it to retrieval.dense" in p.stdout + p.stderr


# ---------------------------------------------------------------- --config overrides and short messages
def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def _base_loader(text: str):
    """How Snakemake reads a nested --config value: YAML's BaseLoader, every scalar a string."""
    return yaml.load(text, Loader=yaml.BaseLoader)


def test_overrides_get_the_schema_types():
    over = {
        "ig": _base_loader("{queries: 0, shards: 2, tol: 1e-3, sides: [document], baseline: pad}"),
        "data": _base_loader("{subsample: {queries: 5}, mirrors: [a b, '7']}"),
        "gpl": _base_loader("{teacher: null, train: {device: cuda:0}}"),
        "ablation": _base_loader("{levels: [0.1, 1]}"),
        "retrieval": _base_loader("{bm25: {enabled: False}}"),
    }
    assert over["ig"]["shards"] == "2"  # the problem: Snakemake hands these over as strings
    got = coerce_overrides(over, _schema())
    assert got["ig"] == {"queries": 0, "shards": 2, "tol": 0.001, "sides": ["document"], "baseline": "pad"}
    # strings stay strings where the schema wants strings, even if they look like numbers
    assert got["data"] == {"subsample": {"queries": 5}, "mirrors": ["a b", "7"]}
    assert got["gpl"] == {"teacher": None, "train": {"device": "cuda:0"}}
    assert got["ablation"] == {"levels": [0.1, 1]}
    assert got["retrieval"] == {"bm25": {"enabled": False}}


def test_coerced_overrides_merge_and_validate():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    before = dict(cfg["ig"])
    over = coerce_overrides({"ig": _base_loader("{queries: 0, shards: 3}")}, _schema())
    merge(cfg, over)
    validate(cfg, str(SCHEMA))
    check_config(cfg)
    assert cfg["ig"]["queries"] == 0 and cfg["ig"]["shards"] == 3
    assert cfg["ig"]["top_k"] == before["top_k"]  # the rest of the block is kept


def test_a_value_that_is_not_the_type_stays_for_the_schema_to_name():
    got = coerce_overrides({"ig": _base_loader("{shards: two}")}, _schema())
    assert got["ig"]["shards"] == "two"
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    merge(cfg, got)
    msg = explain_validation_error(cfg, _schema(), "workflow/schemas/config.schema.yaml")
    assert msg.startswith("config key ig.shards: 'two' is not of type 'integer'")
    assert "\n" not in msg


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(sed=1), "unknown key 'sed' (did you mean seed or sae?)"),
        (lambda c: c["ig"].update(top_kk=3), "unknown key 'ig.top_kk' (did you mean ig.top_k?)"),
        (lambda c: c["models"]["minilm"].update(scor="cos"), "unknown key 'models.minilm.scor'"),
        (lambda c: c.update(zzzz=1), "unknown key 'zzzz'; valid keys at the top level: ablation,"),
    ],
)
def test_unknown_keys_are_named_with_their_nearest_valid_names(edit, expected):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    edit(cfg)
    msg = explain_validation_error(cfg, _schema(), "workflow/schemas/config.schema.yaml")
    assert expected in msg
    assert "\n" not in msg and len(msg) < 600
