"""GPL's teacher check: teacher vs student nDCG@10 on held-out judged queries, the gate, and the table line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from irlens.cli import main

from conftest import write_beir_folder

CORPUS = {
    "d0": ("Cats", "Cats purr and sleep a lot. They purr when they are content and calm."),
    "d1": ("Dogs", "Dogs bark at the mailman. Barking dogs wake the whole street in the morning."),
    "d2": ("", "Birds sing in the morning. The morning chorus of birds is loud in spring."),
    "d3": ("Fish", "Fish swim in water all day. Water quality matters to fish in lakes."),
    "d4": ("Cats and dogs", "Cats and dogs can live together. Many homes keep a cat and a dog."),
    "d5": ("Purring", "Why cats purr: a review of feline sounds and what purring means."),
    "d6": ("Lakes", "Lakes hold fresh water. Fish and birds live near lakes."),
    "d7": ("Mail", "The mailman brings letters every day except on holidays."),
}
QUERIES = {"q1": "why do cats purr", "q2": "dog barking", "q3": "fish in water", "q4": "birds singing in the morning"}
QRELS = {
    "train": [("q1", "d5", 1), ("q2", "d1", 1)],
    "test": [("q1", "d0", 1), ("q2", "d1", 1), ("q3", "d3", 1), ("q4", "d2", 1)],
}


@pytest.fixture
def toy(tmp_path) -> Path:
    return write_beir_folder(tmp_path / "beir" / "toy", CORPUS, QUERIES, QRELS)


def _check(teacher: float, student: float, n: int = 3, stronger=False) -> dict:
    return {
        "dataset": "toy",
        "split": "test",
        "metric": "ndcg@10",
        "n": n,
        "teacher": teacher,
        "student": student,
        "mean_diff": teacher - student,
        "ci_low": teacher - student - 0.1,
        "ci_high": teacher - student + 0.05,
        "t": -1.0,
        "p": 0.2,
        "teacher_stronger": stronger,
    }


def test_verdict_and_paired_comparison_on_hand_rankings():
    from irlens.gpl.teacher_check import compare_rankings, verdict

    assert verdict(0.01, 0.2) is True and verdict(-0.2, -0.01) is False and verdict(-0.1, 0.1) == "inconclusive"
    assert verdict(float("nan"), float("nan")) == "inconclusive"
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    student = {"a": {"x": 3.0, "o": 2.0}, "b": {"y": 3.0, "o": 2.0}, "c": {"z": 3.0, "o": 2.0}}  # all at rank 1
    teacher = {"a": {"x": 1.0, "o": 2.0}, "b": {"y": 1.0, "o": 2.0}, "c": {"z": 3.0, "o": 2.0}}  # two at rank 2
    r = compare_rankings(qrels, student, teacher)
    rank2 = 1 / 1.5849625007211563  # 1 / log2(3)
    assert r["n"] == 3 and r["student"] == pytest.approx(1.0) and r["teacher"] == pytest.approx((2 * rank2 + 1) / 3)
    assert r["mean_diff"] == pytest.approx(r["teacher"] - 1.0) and r["ci_low"] < r["mean_diff"] < r["ci_high"]
    assert (r["teacher_better"], r["teacher_worse"]) == (0, 2) and r["teacher_stronger"] == "inconclusive"


def _encode(toy: Path, model: Path, out: Path, side: str) -> Path:
    f = out / f"{side}.npy"
    args = ["retrieval", "encode", "--data", str(toy), "--model", str(model), "--side", side, "--device", "cpu"]
    assert main([*args, "--threads", "1", "--out", str(f)]) == 0
    return f


def test_teacher_check_writes_both_ndcgs_and_n(toy, tiny_st_model, tiny_ce, tmp_path):
    from irlens.data.beir import read_qrels
    from irlens.retrieval.encode import load_embeddings
    from irlens.retrieval.evaluate import evaluate_run
    from irlens.retrieval.search import dense_search
    from irlens.retrieval.trec import run_from_topk

    emb = tmp_path / "emb"
    c, q = _encode(toy, tiny_st_model, emb, "corpus"), _encode(toy, tiny_st_model, emb, "queries")
    out = tmp_path / "teacher-check.json"
    args = ["gpl", "teacher-check", "--data", str(toy), "--split", "test", "--eval-split", "test"]
    args += ["--corpus-emb", str(c), "--query-emb", str(q), "--student", "tiny", "--score", "cos"]
    args += ["--teacher", str(tiny_ce), "--depth", "10", "--ce-max-length", "64", "--device", "cpu", "--threads", "1"]
    assert main([*args, "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["n"] == 4 and rec["split"] == "test" and rec["split_is_eval_split"] is True
    assert 0 <= rec["teacher"] <= 1 and 0 <= rec["student"] <= 1
    assert rec["mean_diff"] == pytest.approx(rec["teacher"] - rec["student"])
    assert rec["teacher_stronger"] in (True, False, "inconclusive") and "vs student" in rec["summary"]
    # the student's nDCG@10 is that of its own dense ranking
    ce, cid, _ = load_embeddings(c)
    qe, qid, _ = load_embeddings(q)
    s, i = dense_search(qe, ce, 10, score="cos")
    qrels = read_qrels(toy / "qrels" / "test.tsv")
    means, _ = evaluate_run(qrels, run_from_topk(qid, cid, s, i))
    assert rec["student"] == pytest.approx(means["ndcg@10"])
    # a sample of the queries
    assert main([*args, "--queries", "2", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["n"] == 2


def test_require_stronger_teacher_stops_before_labelling(toy, tiny_ce, tmp_path, capsys):
    check = tmp_path / "teacher-check.json"
    check.write_text(json.dumps(_check(teacher=0.567, student=0.645, n=300)))
    out = tmp_path / "gpl-training-data.tsv"
    args = ["gpl", "pseudo-labels", "--data", str(toy), "--queries", str(tmp_path / "none.jsonl")]
    args += ["--negatives", str(tmp_path / "none.jsonl"), "--teacher", str(tiny_ce), "--steps", "1", "--batch", "1"]
    args += ["--teacher-check", str(check), "--out", str(out)]
    assert main([*args, "--require-stronger-teacher"]) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "teacher is not stronger than the student" in lines[0]
    assert "teacher nDCG@10 0.567 vs student 0.645 on 300 held-out" in lines[0]
    assert not out.exists()
    # a stronger teacher passes the gate (and then fails on the missing negatives, a later step)
    check.write_text(json.dumps(_check(teacher=0.7, student=0.6, stronger=True)))
    assert main([*args, "--require-stronger-teacher"]) != 0
    assert "not stronger" not in capsys.readouterr().err


def test_gpl_table_states_the_teacher_check(tmp_path):
    import pandas as pd

    rows = {"1": "0.5\t1.0\t1.0", "2": "0.2\t0.5\t0.0", "3": "0.0\t0.0\t1.0"}
    head = "query-id\tndcg@10\tmrr@10\trecall@100\tmap\n"
    base, adapted = tmp_path / "b.tsv", tmp_path / "a.tsv"
    base.write_text(head + "".join(f"{q}\t{v}\t0\n" for q, v in rows.items()))
    adapted.write_text(head + "".join(f"{q}\t{v}\t0\n" for q, v in rows.items()))
    check = tmp_path / "teacher-check.json"
    check.write_text(json.dumps(_check(teacher=0.567, student=0.645, n=300)))
    md, csvf = tmp_path / "t.md", tmp_path / "t.csv"
    args = ["gpl", "evaluate", "--compare", "scifact", f"minilm={base}", f"minilm-gpl={adapted}"]
    args += ["--teacher-check", "scifact", "minilm", str(check)]
    assert main([*args, "--md", str(md), "--csv", str(csvf)]) == 0
    text = md.read_text()
    assert "teacher nDCG@10 0.567 vs student 0.645 on 300 held-out 'test' queries (Δ -0.078" in text
    assert "not a test of GPL" in text
    df = pd.read_csv(csvf)
    assert df["teacher_ndcg@10"].tolist() == pytest.approx([0.567] * 3)
    assert df["student_ndcg@10"].tolist() == pytest.approx([0.645] * 3)
    assert set(df["teacher_stronger"]) == {False} and set(df["teacher_n"]) == {300}


def test_ensemble_teacher_is_checked_and_labels_with_the_checks_scales(toy, tiny_st_model, tiny_ce, tmp_path, capsys):
    from irlens.data.beir import doc_text, read_corpus
    from irlens.gpl.labels import read_training_data
    from irlens.gpl.teacher_check import BM25Scorer

    emb = tmp_path / "emb"
    c, q = _encode(toy, tiny_st_model, emb, "corpus"), _encode(toy, tiny_st_model, emb, "queries")
    check = tmp_path / "teacher-check.json"
    args = ["gpl", "teacher-check", "--data", str(toy), "--split", "test", "--corpus-emb", str(c)]
    args += ["--query-emb", str(q), "--teacher", str(tiny_ce), "--depth", "10", "--device", "cpu"]
    assert main([*args, "--ensemble", "teacher", "student", "bm25", "--out", str(check)]) == 0
    rec = json.loads(check.read_text())
    assert rec["ensemble"] == ["teacher", "student", "bm25"] and set(rec["components"]) == set(rec["ensemble"])
    assert all(v > 0 for v in rec["scales"].values()) and rec["components"]["student"] == pytest.approx(rec["student"])
    assert main([*args, "--ensemble", "bm25", "--out", str(check)]) == 0
    rec = json.loads(check.read_text())
    # pseudo-labels with the bm25-only ensemble: margins are BM25 margins over the check's BM25 scale
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    negs = [
        {"qid": "q1", "pos": ["d0"], "neg": {"bm25": ["d4", "d6"]}},
        {"qid": "q3", "pos": ["d3"], "neg": {"x": ["d7"]}},
    ]
    (tmp_path / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in negs))
    out = tmp_path / "gpl-training-data.tsv"
    pl = ["gpl", "pseudo-labels", "--data", str(toy), "--queries", str(tmp_path / "q.jsonl"), "--negatives"]
    pl += [str(tmp_path / "n.jsonl"), "--teacher", str(tiny_ce), "--steps", "2", "--batch", "2", "--device", "cpu"]
    pl += ["--teacher-check", str(check), "--out", str(out)]
    assert main([*pl, "--ensemble", "teacher", "bm25"]) != 0  # not the measured ensemble
    assert "rerun the check with the same ensemble" in capsys.readouterr().err
    assert main([*pl, "--ensemble", "bm25"]) == 0
    corpus = read_corpus(toy / "corpus.jsonl")
    bm = BM25Scorer({d: doc_text(corpus[d]) for d in corpus}, **rec["bm25"])
    for qid, p, n, m in read_training_data(out):
        want = (bm.pair(QUERIES[qid], p) - bm.pair(QUERIES[qid], n)) / rec["scales"]["bm25"]
        assert m == pytest.approx(want)
    # the student component: the student's similarity margins from its cached corpus embeddings, over its scale
    from irlens.retrieval.encode import load_embeddings

    assert main([*args, "--ensemble", "student", "--out", str(check)]) == 0
    rec = json.loads(check.read_text())
    more = ["--student-model", str(tiny_st_model), "--corpus-emb", str(c), "--ensemble", "student"]
    assert main([*pl, *more]) == 0
    qe, qid, _ = load_embeddings(q)
    ce, cid, _ = load_embeddings(c)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    for qq, p, n, m in read_training_data(out):
        e = unit(qe[qid.index(qq)])
        want = (e @ unit(ce[cid.index(p)]) - e @ unit(ce[cid.index(n)])) / rec["scales"]["student"]
        assert m == pytest.approx(want, rel=1e-4, abs=1e-5)
