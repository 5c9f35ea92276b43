# What every stage shares: config validation and checks, the `irlens` command, dataset and model lists,
# wildcard constraints, device helpers, final targets. Each stage's own input/param functions live in
# workflow/rules/<stage>_functions.smk, included at the top of <stage>.smk (Snakemake's linter wants
# functions and rules in separate files).
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The schema checks each key and fills in its default (the one home of defaults); irlens.config checks
# the keys against each other. Only irlens.config is imported (stdlib only), from this checkout's src,
# so this works from any environment Snakemake runs in.
_SRC = str(Path(workflow.basedir) / "src")
if sys.path[:1] != [_SRC]:
    sys.path.insert(0, _SRC)
import irlens.config as irlens_config

_SCHEMA_FILE = "workflow/schemas/config.schema.yaml"
with open(Path(workflow.basedir) / _SCHEMA_FILE, encoding="utf-8") as _fh:
    _SCHEMA = yaml.safe_load(_fh)
# Nested `--config 'ig={queries: 0}'` values arrive as strings: give them the schema's types first.
if workflow.config_settings.config:
    irlens_config.merge(config, irlens_config.coerce_overrides(dict(workflow.config_settings.config), _SCHEMA))
try:
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as _e:
    # one line with the key and the nearest valid names instead of a dump of the whole schema
    raise WorkflowError(irlens_config.explain_validation_error(config, _SCHEMA, _SCHEMA_FILE)) from None
irlens_config.check_config(config)


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
RETRIEVERS = DENSE + (["bm25"] if config["retrieval"]["bm25"]["enabled"] else [])


def model_datasets(model):
    """Datasets a dense model is evaluated on: models.<name>.datasets, or all of them."""
    return irlens_config.model_datasets(config, model)


def retrievers_of(dataset):
    """Retrievers with a run on ``dataset``: the dense models evaluated there, then BM25."""
    return [r for r in RETRIEVERS if r == "bm25" or dataset in model_datasets(r)]


def run_files(datasets, name="metrics.json"):
    return [f"results/retrieval/{d}/{r}/{name}" for d in datasets for r in retrievers_of(d)]


def model_cfg(name):
    return config["models"][name]


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


def quoted(value):
    """A config value as one shell word (unchanged when it has no special characters)."""
    return shlex.quote(str(value))


# Jobs on the longest chain (encodings -> reranker -> GPL -> adapted model's encoding -> IG pairs -> IG
# attribution -> faithfulness) run first among ready jobs, so the rest of the DAG fills the cores around them
# instead of leaving that chain to run alone at the end.
CRITICAL_PATH = 10


# ---------------------------------------------------------------------------------- devices, models
DEVICE = config["retrieval"]["device"]


def gpus(device=DEVICE):
    """The `gpu` resource of a job running on ``device``: 1 on CUDA, else 0."""
    return 1 if str(device).startswith("cuda") else 0


def device_args():
    return f"--device {quoted(DEVICE)}"


def local_dir_args():
    """--local-dir of every resources.model_dirs folder (local model copies) and --pin <id>=<sha256> of every
    resources.model_sha256 entry (weights the resolver must find)."""
    res = config["resources"]
    return [f"--local-dir {quoted(d)}" for d in res["model_dirs"]] + [
        f"--pin {quoted(f'{mid}={sha}')}" for mid, sha in (res.get("model_sha256") or {}).items()
    ]


# ----------------------------------------------------------------------------------- final targets
def final_targets():
    """Everything the pipeline keeps: deleting any of these rebuilds it and what depends on it."""
    return (
        expand("results/data/{dataset}/manifest.json", dataset=DATASETS)
        + [
            f"results/embeddings/{m}/{d}/{side}.npy"
            for m in DENSE
            for d in model_datasets(m)
            for side in ("corpus", "queries")
        ]
        + [f for name in ("run.trec", "metrics.json", "per_query.tsv") for f in run_files(DATASETS, name)]
        + ["reports/tables/retrieval.md", "reports/tables/retrieval.csv"]
        + ["reports/tables/claims.md", "reports/tables/claims.csv"]
        # defined in the stages' *_functions.smk, included after this file
        + ig_targets()
        + ce_targets()
        + nig_targets()
        + ablation_targets()
        + gpl_targets()
        + sae_targets()
    )
