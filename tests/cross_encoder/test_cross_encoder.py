"""Cross-encoders: loading 1-/2-logit heads, pair layout, score direction, batching, training, reranking."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from irlens.errors import IrlensError
from irlens.models import CrossEncoder, load_cross_encoder

from conftest import write_beir_folder

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
QUERY = "why do cats purr"
DOCS = [
    "Cats purr when they are content and often while they sleep.",
    "Dogs bark.",
    "Fish swim in water all day long, every day of the year.",
]


def _tokenizer_into(folder: Path) -> Path:
    from irlens.models import resolve_model

    src = Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2", allow_hub=False).path)
    folder.mkdir(parents=True, exist_ok=True)
    for f in TOKENIZER_FILES:
        if (src / f).is_file():
            shutil.copy(src / f, folder / f)
    return folder


def _bert_cfg(**kw):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **kw,
    )


@pytest.fixture(scope="module")
def tiny_ce_dirs(tmp_path_factory) -> dict[str, Path]:
    """Tiny random rerankers: BERT 2-logit, BERT 1-logit, DistilBERT 2-logit, and a bare BERT backbone."""
    from transformers import (
        BertForSequenceClassification,
        BertModel,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    out = {}
    torch.manual_seed(0)
    for name, n in (("bert2", 2), ("bert1", 1)):
        d = _tokenizer_into(tmp_path_factory.mktemp(name))
        BertForSequenceClassification(_bert_cfg(num_labels=n)).save_pretrained(d)
        out[name] = d
    d = _tokenizer_into(tmp_path_factory.mktemp("distil"))
    cfg = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=128, num_labels=2
    )
    DistilBertForSequenceClassification(cfg).save_pretrained(d)
    out["distil"] = d
    d = _tokenizer_into(tmp_path_factory.mktemp("backbone"))
    BertModel(_bert_cfg()).save_pretrained(d)
    out["backbone"] = d
    return out


@pytest.fixture
def train_beir(tmp_path) -> Path:
    corpus = {
        f"d{i}": (t, x)
        for i, (t, x) in enumerate(
            [
                ("Cats", "Cats purr and sleep a lot."),
                ("Dogs", "Dogs bark at the mailman."),
                ("", "Birds sing in the morning."),
                ("Fish", "Fish swim in water all day."),
                ("Cats and dogs", "Cats and dogs can live together."),
                ("Purring", "Why cats purr: a review of feline sounds."),
                ("Barking", "Barking dogs and their owners."),
                ("Water", "Fish and water quality in lakes."),
                ("Mornings", "Birds and the morning chorus of song."),
            ]
        )
    }
    queries = {
        "q1": "why do cats purr",
        "q2": "dog barking",
        "q3": "fish in water",
        "q4": "birds singing in the morning",
    }
    qrels = {
        "train": [("q1", "d0", 1), ("q1", "d5", 2), ("q2", "d1", 1), ("q2", "d6", 1), ("q3", "d3", 1), ("q4", "d2", 1)],
        "test": [("q1", "d0", 1), ("q1", "d4", 2), ("q2", "d1", 1)],
    }
    return write_beir_folder(tmp_path / "beir" / "toy", corpus, queries, qrels)


# ------------------------------------------------------------------------------------------ loading
@pytest.mark.parametrize("name,labels,types", [("bert2", 2, True), ("bert1", 1, True), ("distil", 2, False)])
def test_load_heads_and_token_types(tiny_ce_dirs, name, labels, types):
    ce, resolved = load_cross_encoder(str(tiny_ce_dirs[name]), device="cpu", max_length=64)
    assert isinstance(ce, CrossEncoder) and ce.num_labels == labels and resolved.source == "path"
    assert ce.relevant_label == (1 if labels == 2 else 0) and ce.max_length == 64 and not ce.model.training
    f = ce.features([QUERY], [DOCS[0]])
    assert ("token_type_ids" in f) == types
    assert ce.logits(f).shape == (1, labels)
    assert ce.score([QUERY] * 3, DOCS).shape == (3,)


def test_features_layout_cls_q_sep_d_sep(tiny_ce_dirs):
    ce, _ = load_cross_encoder(str(tiny_ce_dirs["bert2"]), device="cpu", max_length=16)
    tok = ce.tokenizer
    f = ce.features(
        ["cats purr", "dogs"],
        ["a very long document about cats that purr loudly in the night and in the day", "dogs bark"],
    )
    ids, tt, am = f["input_ids"], f["token_type_ids"], f["attention_mask"]
    assert ids.shape == (2, 16)
    q = tok("cats purr", add_special_tokens=False)["input_ids"]
    row = ids[0].tolist()
    assert (
        row[0] == tok.cls_token_id
        and row[1 : 1 + len(q)] == q
        and row[1 + len(q)] == tok.sep_token_id
        and row[-1] == tok.sep_token_id
    )
    assert tt[0].tolist() == [0] * (len(q) + 2) + [1] * (16 - len(q) - 2)  # query kept whole, document truncated
    n = int(am[1].sum())
    assert row[:1] and ids[1, n - 1] == tok.sep_token_id and (ids[1, n:] == tok.pad_token_id).all()
    assert tt[1, :n].tolist() == [0, *[0] * len(tok("dogs", add_special_tokens=False)["input_ids"]), 0] + [1] * (
        n - 3 - len(tok("dogs", add_special_tokens=False)["input_ids"]) + 1
    )
    # a query longer than max_length falls back to longest_first instead of failing
    g = ce.features(["word " * 40], ["doc text"])
    assert g["input_ids"].shape[1] == 16 and 1 in g["token_type_ids"][0].tolist()


def test_score_direction_two_logits(tiny_ce_dirs):
    ce, _ = load_cross_encoder(str(tiny_ce_dirs["bert2"]), device="cpu")
    with torch.no_grad():
        logits = ce.logits(ce.features([QUERY] * 3, DOCS)).double()
    np.testing.assert_allclose(ce.relevance(logits).numpy(), torch.softmax(logits, -1)[:, 1].numpy())
    np.testing.assert_allclose(
        ce.score([QUERY] * 3, DOCS), torch.log_softmax(logits, -1)[:, 1].numpy(), rtol=1e-5, atol=1e-6
    )
    # hand-set head: logit1 - logit0 grows with the pooled feature 0, so index 1 is "relevant"
    ce.relevant_label = 0
    np.testing.assert_allclose(ce.relevance(logits).numpy(), torch.softmax(logits, -1)[:, 0].numpy())
    l2 = torch.tensor([[0.0, 3.0], [0.0, -3.0]], dtype=torch.float64)
    ce.relevant_label = 1
    assert ce.relevance(l2)[0] > 0.9 and ce.relevance(l2)[1] < 0.1
    assert ce.ranking_score(l2)[0] > ce.ranking_score(l2)[1]


def test_score_direction_one_logit(tiny_ce_dirs):
    ce, _ = load_cross_encoder(str(tiny_ce_dirs["bert1"]), device="cpu")
    with torch.no_grad():
        logits = ce.logits(ce.features([QUERY] * 3, DOCS))
    np.testing.assert_allclose(ce.score([QUERY] * 3, DOCS), logits[:, 0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ce.relevance(logits).numpy(), torch.sigmoid(logits[:, 0]).numpy())


def test_batched_length_sorted_equals_one_by_one(tiny_ce_dirs):
    ce, _ = load_cross_encoder(str(tiny_ce_dirs["bert2"]), device="cpu")
    qs = [QUERY, "dogs", "fish in water", QUERY, "a"]
    ds = DOCS + ["short", DOCS[0] * 3]
    one = np.array([ce.score([q], [d])[0] for q, d in zip(qs, ds)])
    np.testing.assert_allclose(ce.score(qs, ds, max_batch=2), one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ce.score(qs, ds, max_tokens=64, max_batch=64), one, rtol=1e-5, atol=1e-5)
    assert ce.score([], []).shape == (0,)


def test_bad_models_are_one_clear_error(tiny_ce_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(IrlensError, match="acme/absent-reranker") as e:
        load_cross_encoder("acme/absent-reranker", local_dirs=[tmp_path])
    assert "\n" not in str(e.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    with pytest.raises(IrlensError, match="cannot be loaded as a sequence-classification cross-encoder"):
        load_cross_encoder(str(broken))


# ----------------------------------------------------------------------------------------- training
def _train(base, data, out, **kw):
    from irlens.cross_encoder.train import train_cross_encoder

    args = dict(
        steps=3,
        batch_size=2,
        max_length=32,
        lr=1e-3,
        warmup=0.34,
        negatives_depth=5,
        seed=7,
        threads=1,
        device="cpu",
        log_every=1,
        progress=False,
    )
    return train_cross_encoder(str(base), data, "train", out, **{**args, **kw})


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def test_train_saves_loadable_folder_deterministically(tiny_ce_dirs, train_beir, tmp_path):
    rec = _train(tiny_ce_dirs["backbone"], train_beir, tmp_path / "a" / "model")
    assert len(rec["losses"]) == 3 and all(np.isfinite(rec["losses"]))
    assert set(rec["newly_initialised"]) == {"classifier.weight", "classifier.bias"}
    folder = tmp_path / "a" / "model"
    meta = json.loads((folder / "training.json").read_text())
    assert meta["config"]["steps"] == 3 and meta["config"]["base_sha256"]
    assert not list((tmp_path / "a").glob(".*tmp")) and not (tmp_path / "a" / "model.partial").exists()
    ce, _ = load_cross_encoder(str(folder), device="cpu")
    assert ce.num_labels == 2 and ce.model.config.id2label[1] == "relevant"
    _train(tiny_ce_dirs["backbone"], train_beir, tmp_path / "b" / "model")
    wa, wb = _weights(folder), _weights(tmp_path / "b" / "model")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    _train(tiny_ce_dirs["backbone"], train_beir, tmp_path / "c" / "model", seed=8)
    wc = _weights(tmp_path / "c" / "model")
    assert not torch.equal(wa["classifier.weight"], wc["classifier.weight"])


def test_train_resumes_after_a_kill_with_identical_weights(tiny_ce_dirs, train_beir, tmp_path):
    _train(tiny_ce_dirs["backbone"], train_beir, tmp_path / "full" / "model", steps=4)

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    out = tmp_path / "killed" / "model"
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_ce_dirs["backbone"], train_beir, out, steps=4, checkpoint_every=2, on_step=kill)
    assert not out.exists() and (out.parent / "model.partial" / "checkpoint.pt").is_file()
    rec = _train(tiny_ce_dirs["backbone"], train_beir, out, steps=4, checkpoint_every=2)
    assert rec["resumed_at_step"] == 2 and len(rec["losses"]) == 4
    wa, wb = _weights(tmp_path / "full" / "model"), _weights(out)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_hard_negatives_exclude_judged():
    from irlens.cross_encoder.train import hard_negatives

    docs = ["cats purr", "cats sleep", "cats and dogs", "fish"]
    neg = hard_negatives(["a", "b", "c", "d"], docs, ["q"], ["cats"], {"q": {"a": 1, "c": 0}}, depth=4)
    assert neg == {"q": ["b"]}


# ---------------------------------------------------------------------------------------- reranking
class FakeCE:
    """Scores documents from a fixed table keyed by document text (rerank only calls ``score``)."""

    def __init__(self, table):
        self.table = table

    def score(self, queries, docs, **kw):
        return np.array([self.table[d] for d in docs], dtype=np.float64)


def test_rerank_reorders_head_keeps_tail_and_evaluates(tiny_beir):
    from irlens.cross_encoder.rerank import evaluate_rerank, rerank
    from irlens.data.beir import doc_text, read_corpus
    from irlens.retrieval.evaluate import evaluate_run

    corpus = read_corpus(tiny_beir / "corpus.jsonl")
    table = {doc_text(corpus[d]): s for d, s in {"d2": 0.0, "d1": 1.0, "d5": 2.0}.items()}
    first = {"q1": {"d2": 3.0, "d1": 2.0, "d5": 1.0, "d3": 0.5}}
    run = rerank(FakeCE(table), tiny_beir, "test", first, depth=3, progress=False)
    assert [d for d, _ in sorted(run["q1"].items(), key=lambda kv: -kv[1])] == ["d5", "d1", "d2", "d3"]
    means, per_q = evaluate_rerank(run, tiny_beir, "test")
    assert per_q["q1"]["ndcg@10"] == pytest.approx(1.0) and per_q["q1"]["mrr@10"] == 1.0
    assert means["queries"] == 3 and means["ndcg@10"] == pytest.approx(1 / 3)
    # BM25 order d2, d1, d5 with grades 0, 1, 2: DCG = 1/log2(3) + 2/log2(4), ideal 2 + 1/log2(3)
    _, pq = evaluate_run({"q1": {"d1": 1, "d5": 2}}, first)
    assert pq["q1"]["ndcg@10"] == pytest.approx((1 / np.log2(3) + 1) / (2 + 1 / np.log2(3)))
    with pytest.raises(IrlensError, match="not in"):
        rerank(FakeCE(table), tiny_beir, "test", {"q1": {"zz": 1.0}}, depth=3, progress=False)


def test_rerank_with_a_real_model_and_table(tiny_ce_dirs, tiny_beir, tmp_path):
    from irlens.cross_encoder.rerank import rerank_table, write_metrics

    ce, _ = load_cross_encoder(str(tiny_ce_dirs["bert1"]), device="cpu")
    from irlens.cross_encoder.rerank import evaluate_rerank, rerank

    first = {"q1": {"d2": 3.0, "d1": 2.0, "d5": 1.0}, "q2": {"d2": 1.0, "d1": 0.5}}
    run = rerank(ce, tiny_beir, "test", first, depth=2, progress=False)
    assert set(run["q1"]) == {"d1", "d2", "d5"} and run["q1"]["d5"] < min(run["q1"]["d1"], run["q1"]["d2"])
    means, pq = evaluate_rerank(run, tiny_beir, "test")
    for name, backend, val in (("bm25", "bm25s", 0.3), ("ce", "cross-encoder rerank of bm25 top-2", 0.5)):
        m = {**means, "ndcg@10": val}
        write_metrics(
            tmp_path / f"{name}.json",
            tmp_path / f"{name}.tsv",
            m,
            pq,
            dataset="tiny",
            split="test",
            retriever=name,
            model=name,
            backend=backend,
            run="x",
        )
    df = rerank_table([tmp_path / "ce.json", tmp_path / "bm25.json"], in_domain=["tiny"])
    assert list(df["system"]) == ["bm25", "ce"] and list(df["tiny (ID) nDCG@10"]) == [0.3, 0.5]
    assert (tmp_path / "ce.tsv").read_text().startswith("query-id\tndcg@10")


# ---------------------------------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "irlens", "cross-encoder", *args],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )


def _one_line(p, needle):
    assert p.returncode == 2, p.stderr
    err = [l for l in p.stderr.splitlines() if l.startswith("irlens cross-encoder ") and ": error: " in l]
    assert len(err) == 1 and "Traceback" not in p.stderr and needle in err[0], p.stderr


def test_cli_missing_run_is_one_line(tiny_beir, tmp_path):
    p = _cli(
        "rerank",
        "--model",
        "acme/absent",
        "--data",
        str(tiny_beir),
        "--dataset",
        "tiny",
        "--run",
        str(tmp_path / "none.trec"),
        "--out-run",
        str(tmp_path / "r.trec"),
        "--out",
        str(tmp_path / "m.json"),
    )
    _one_line(p, "run file not found")


def test_cli_unknown_model_offline_is_one_line(tiny_beir, tmp_path):
    run = tmp_path / "bm25.trec"
    run.write_text("q1 Q0 d1 1 2.0 bm25\n")
    p = _cli(
        "rerank",
        "--model",
        "acme/absent-reranker",
        "--data",
        str(tiny_beir),
        "--dataset",
        "tiny",
        "--run",
        str(run),
        "--out-run",
        str(tmp_path / "r.trec"),
        "--out",
        str(tmp_path / "m.json"),
        "--local-dir",
        str(tmp_path),
    )
    _one_line(p, "acme/absent-reranker")
    assert not (tmp_path / "m.json").exists()


def test_cli_train_missing_data_is_one_line(tmp_path):
    _one_line(_cli("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m")), "dataset folder not found")


def test_cli_rerank_end_to_end(tiny_ce_dirs, tiny_beir, tmp_path):
    run = tmp_path / "bm25.trec"
    run.write_text("q1 Q0 d2 1 3.0 bm25\nq1 Q0 d1 2 2.0 bm25\nq1 Q0 d5 3 1.0 bm25\nq2 Q0 d2 1 1.0 bm25\n")
    p = _cli(
        "rerank",
        "--model",
        str(tiny_ce_dirs["bert2"]),
        "--data",
        str(tiny_beir),
        "--dataset",
        "tiny",
        "--run",
        str(run),
        "--depth",
        "2",
        "--out-run",
        str(tmp_path / "r.trec"),
        "--out",
        str(tmp_path / "m.json"),
        "--per-query",
        str(tmp_path / "pq.tsv"),
        "--device",
        "cpu",
        "--threads",
        "1",
    )
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert (
        m["backend"] == "cross-encoder rerank of bm25 top-2"
        and m["dataset"] == "tiny"
        and 0 <= m["metrics"]["ndcg@10"] <= 1
    )
    assert len((tmp_path / "r.trec").read_text().splitlines()) == 4
    p = _cli(
        "table",
        "--metrics",
        str(tmp_path / "m.json"),
        "--in-domain",
        "tiny",
        "--md",
        str(tmp_path / "t.md"),
        "--csv",
        str(tmp_path / "t.csv"),
    )
    assert p.returncode == 0, p.stderr
    assert "tiny (ID) nDCG@10" in (tmp_path / "t.md").read_text()


def test_train_is_identical_across_processes_and_hash_seeds(tiny_ce_dirs, train_beir, tmp_path):
    """Two separate processes with different PYTHONHASHSEED (set/dict order of strings) give byte-identical
    weights at equal thread counts: what a `snakemake --forceall` rerun relies on."""
    code = (
        "import sys; from irlens.cross_encoder.train import train_cross_encoder as t; "
        "t(sys.argv[1], sys.argv[2], 'train', sys.argv[3], steps=3, batch_size=2, max_length=32, lr=1e-3, warmup=0.34, "
        "negatives_depth=5, seed=7, threads=1, device='cpu', progress=False)"
    )
    for i, hash_seed in enumerate(("1", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                str(tiny_ce_dirs["backbone"]),
                str(train_beir),
                str(tmp_path / f"p{i}" / "model"),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
    a, b = (
        (tmp_path / "p0/model/model.safetensors").read_bytes(),
        (tmp_path / "p1/model/model.safetensors").read_bytes(),
    )
    assert a == b
