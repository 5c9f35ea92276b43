"""Encoding: agrees with SentenceTransformer.encode, resumes after a crash and after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from irlens.retrieval import encode as enc
from irlens.retrieval.encode import encode_texts, encode_to_file, load_embeddings
from irlens.runtime import plan_batches

TEXTS = [("word " * n).strip() + f" text number {n}" for n in range(1, 60)]


@pytest.fixture(scope="module")
def model(tiny_st_model):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_st_model), device="cpu")


def test_plan_respects_token_budget():
    lengths = np.array([5, 50, 3, 50, 20, 7])
    order, batches = plan_batches(lengths, max_tokens=100, max_batch=10)
    assert list(order[:2]) == [1, 3]  # longest first, ties by index
    for s, e in batches:
        assert (e - s) * lengths[order[s]] <= 100 or e - s == 1
    assert sum(e - s for s, e in batches) == len(lengths)


def test_matches_sentence_transformers_encode(model):
    ours = encode_texts(model, TEXTS, max_tokens=256, progress=False)
    ref = model.encode(TEXTS, batch_size=7, convert_to_numpy=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_resume_after_crash_is_identical(model, tmp_path, monkeypatch):
    full = encode_texts(model, TEXTS, max_tokens=128, chunk_batches=2, progress=False)
    real = enc.encode_batch
    calls = {"n": 0}

    def flaky(m, texts):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("killed")
        return real(m, texts)

    monkeypatch.setattr(enc, "encode_batch", flaky)
    partial = tmp_path / "p"
    with pytest.raises(RuntimeError):
        encode_texts(model, TEXTS, max_tokens=128, chunk_batches=2, partial_dir=partial, progress=False)
    saved = sorted(partial.glob("chunk-*.npy"))
    assert len(saved) == 3  # batches 1-6 finished three chunks before the crash
    monkeypatch.setattr(enc, "encode_batch", real)
    calls_before = calls["n"]
    resumed = encode_texts(model, TEXTS, max_tokens=128, chunk_batches=2, partial_dir=partial, progress=False)
    np.testing.assert_array_equal(resumed, full)
    assert calls["n"] == calls_before  # the patched counter saw no more calls: old chunks were reused


def test_stale_partials_are_discarded(model, tmp_path):
    partial = tmp_path / "p"
    encode_texts(model, TEXTS[:10], max_tokens=64, partial_dir=partial, progress=False)
    out = encode_texts(model, TEXTS[10:20], max_tokens=64, partial_dir=partial, progress=False)
    np.testing.assert_allclose(out, encode_texts(model, TEXTS[10:20], max_tokens=64, progress=False), atol=0)


def test_encode_to_file_roundtrip(model, tmp_path):
    info = encode_to_file(
        model, [f"d{i}" for i in range(len(TEXTS))], TEXTS, tmp_path / "c.npy", {"model": "tiny"}, progress=False
    )
    emb, ids, meta = load_embeddings(tmp_path / "c.npy")
    assert emb.shape == (len(TEXTS), 32) and ids[0] == "d0" and meta["model"] == "tiny"
    assert not (tmp_path / "c.npy.partial").exists() and info["n"] == len(TEXTS)


def test_kill_9_then_rerun_completes_identically(tiny_st_model, tmp_path):
    """A real SIGKILL of `irlens retrieval encode` mid-way; the rerun reuses saved chunks and matches."""
    from conftest import write_beir_folder

    corpus = {f"d{i}": ("", ("lorem ipsum " * (1 + i % 30)) + str(i)) for i in range(3000)}
    data = write_beir_folder(tmp_path / "data", corpus, {"q": "x"}, {"test": [("q", "d1", 1)]})
    base = [
        sys.executable,
        "-m",
        "irlens",
        "retrieval",
        "encode",
        "--data",
        str(data),
        "--model",
        str(tiny_st_model),
        "--side",
        "corpus",
        "--threads",
        "1",
        "--max-tokens",
        "512",
        "--max-batch",
        "8",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "e" / "corpus.npy"
    partial = out.parent / "corpus.npy.partial"
    proc = subprocess.Popen(base + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(partial.glob("chunk-*.npy"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "encoding finished before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    kept = len(list(partial.glob("chunk-*.npy")))
    assert kept >= 2
    subprocess.run(base + ["--out", str(out)], env=env, check=True, capture_output=True)
    ref = tmp_path / "ref" / "corpus.npy"
    subprocess.run(base + ["--out", str(ref)], env=env, check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(out), np.load(ref))
    assert not partial.exists()
    assert json.loads(out.with_suffix(".json").read_text())["n"] == 3000
