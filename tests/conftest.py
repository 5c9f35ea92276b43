"""Shared fixtures: tiny BEIR folders and tiny randomly initialised models (no hub, no big weights)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BEIR = REPO.parent / "shared" / "data" / "beir"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def write_beir_folder(
    folder: Path, corpus: dict, queries: dict, qrels: dict[str, list[tuple]], crlf: bool = False
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nl = "\r\n" if crlf else "\n"
    with open(folder / "corpus.jsonl", "w", newline="") as fh:
        for did, (title, text) in corpus.items():
            fh.write(json.dumps({"_id": did, "title": title, "text": text, "metadata": {}}) + nl)
    with open(folder / "queries.jsonl", "w", newline="") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + nl)
    (folder / "qrels").mkdir(exist_ok=True)
    for split, rows in qrels.items():
        with open(folder / "qrels" / f"{split}.tsv", "w", newline="") as fh:
            fh.write("query-id\tcorpus-id\tscore" + nl)
            for q, d, s in rows:
                fh.write(f"{q}\t{d}\t{s}{nl}")
    return folder


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (small matrices: threads only add noise), restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    """A 6-document, 3-query dataset with CRLF qrels (as the official BEIR files have)."""
    corpus = {
        "d1": ("Cats", "Cats purr and sleep a lot."),
        "d2": ("Dogs", "Dogs bark at the mailman."),
        "d3": ("", "Birds sing in the morning."),
        "d4": ("Fish", "Fish swim in water all day."),
        "d5": ("Cats and dogs", "Cats and dogs can live together."),
        "6": ("Numbers", "A document whose id collides with a query id."),
    }
    queries = {"q1": "why do cats purr", "q2": "dog barking", "6": "fish in water"}
    qrels = {"test": [("q1", "d1", 1), ("q1", "d5", 2), ("q2", "d2", 1), ("6", "d4", 1)], "train": [("q2", "d5", 1)]}
    return write_beir_folder(tmp_path / "mirror" / "tiny", corpus, queries, qrels, crlf=True)


def copy_minilm_tokenizer(folder: Path) -> Path:
    """Copy the WordPiece tokenizer of the packaged all-MiniLM-L6-v2 into ``folder`` (for tiny random models)."""
    from irlens.models import resolve_model

    src = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2", allow_hub=False).path)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / f).is_file():
            shutil.copy(src / f, folder / f)
    return folder


@pytest.fixture(scope="session")
def tiny_ce(tmp_path_factory) -> Path:
    """A tiny random BERT reranker with a 2-logit head (index 1 = relevant), MiniLM's WordPiece vocabulary."""
    return make_tiny_ce(tmp_path_factory.mktemp("tiny-ce"), seed=0)


def make_tiny_ce(out: Path, seed: int, scale: float = 1.0) -> Path:
    """Save a tiny random 2-layer BERT reranker (2 logits, MiniLM's WordPiece vocabulary) to ``out``; ``scale``
    multiplies the encoder's and the classifier's weight matrices (LayerNorm excluded), so that zeroing a few
    units visibly moves P(relevant)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out = copy_minilm_tokenizer(out)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    m = BertForSequenceClassification(cfg)
    if scale != 1.0:
        with torch.no_grad():
            for n, p in m.named_parameters():
                if ("encoder" in n and n.endswith("weight") and "LayerNorm" not in n) or n.startswith("classifier"):
                    p.mul_(scale)
    m.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 BERT sentence-transformers model with mean pooling, saved to a temp folder.

    Uses the WordPiece vocabulary of the packaged all-MiniLM-L6-v2 (no network needed).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel

    hf_dir = copy_minilm_tokenizer(tmp_path_factory.mktemp("tiny-bert-hf"))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(hf_dir)
    word = Transformer(str(hf_dir), max_seq_length=64)
    pool = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    st = SentenceTransformer(modules=[word, pool], device="cpu")
    out = tmp_path_factory.mktemp("tiny-st")
    st.save(str(out))
    return out


# --- the smoke preset in a temporary copy of the workflow (tests/test_workflow.py, tests/test_slurm.py)


def make_smoke_workdir(wd: Path) -> Path:
    """Copy what Snakemake needs into ``wd``, with ``ci.yaml`` pointing the data stage at ../shared."""
    if not SHARED_BEIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail("CI needs ../shared/data/beir beside the repository")
        pytest.skip("../shared/data/beir not present")
    import yaml

    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, wd / name)
    for name in ("workflow", "presets", "envs"):
        shutil.copytree(REPO / name, wd / name)
    (wd / "profiles").symlink_to("workflow/profiles")
    (wd / "ci.yaml").write_text(yaml.safe_dump({"data": {"mirrors": [str(SHARED_BEIR)]}}))
    return wd


def job_stats(log: str) -> Counter:
    """The 'Job stats' table Snakemake prints before it starts (or in a dry run): rule -> number of jobs."""
    lines = log[log.index("Job stats:") :].splitlines()[3:]
    stats = Counter()
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        stats[parts[0]] = int(parts[1])
    return stats


def smoke_snakemake(
    wd: Path, *args, check: bool = True, cores: bool = True, env: dict | None = None, timeout: float | None = None
):
    """``snakemake [--cores 2] --configfile presets/smoke.yaml ci.yaml ARGS`` in ``wd`` under umask 022 (a
    shared machine's usual one: outputs must come out readable by others); raises with the log tail on failure."""
    cmd = SNAKEMAKE + (["--cores", "2"] if cores else []) + ["--configfile", "presets/smoke.yaml", "ci.yaml", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    p = subprocess.run(cmd, cwd=wd, capture_output=True, text=True, env=env, timeout=timeout, umask=0o022)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}")
    return p


@pytest.fixture(scope="session")
def smoke_local(tmp_path_factory) -> Path:
    """A workdir where the smoke preset has run to completion locally (``--cores 2``), once per session.

    tests/test_workflow.py goes on to modify it (deletes and rebuilds outputs, kill -9); its tests
    check that the rebuilt outputs are identical, so it stays a valid reference for other tests."""
    wd = make_smoke_workdir(tmp_path_factory.mktemp("wf"))
    smoke_snakemake(wd)
    return wd
