"""Metrics against values computed by hand."""

import math

import pytest

from irlens.retrieval.evaluate import evaluate_run

QRELS = {"q1": {"a": 1, "b": 2}, "q2": {"c": 1}, "q3": {"r": 1}}
RUN = {
    "q1": {"x": 0.9, "b": 0.8, "a": 0.7},
    "q2": {"y": 0.5, "z": 0.4},
    "q3": {**{f"n{i}": 1.0 - i * 0.05 for i in range(10)}, "r": 0.01},
}


def test_hand_computed_values():
    means, per_q = evaluate_run(QRELS, RUN)
    # q1: gains 0, 2, 1 at ranks 1..3; ideal 2, 1
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert per_q["q1"]["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-6)
    assert per_q["q1"]["mrr@10"] == pytest.approx(0.5)
    assert per_q["q1"]["recall@100"] == pytest.approx(1.0)
    assert per_q["q1"]["map"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert per_q["q2"] == {"ndcg@10": 0.0, "mrr@10": 0.0, "recall@100": 0.0, "map": 0.0}
    # q3: the only relevant document is at rank 11 -> MRR@10 = 0 (plain recip_rank would be 1/11)
    assert per_q["q3"]["mrr@10"] == 0.0
    assert per_q["q3"]["map"] == pytest.approx(1 / 11)
    assert per_q["q3"]["recall@100"] == 1.0
    assert means["ndcg@10"] == pytest.approx(dcg / idcg / 3, abs=1e-6)
    assert means["queries"] == 3


def test_identical_ids_dropped_like_beir():
    qrels = {"6": {"d4": 1}}
    run = {"6": {"6": 0.99, "d4": 0.5}}
    means, _ = evaluate_run(qrels, run)
    assert means["mrr@10"] == 1.0 and means["identical_ids_dropped"] == 1
    means, _ = evaluate_run(qrels, run, ignore_identical_ids=False)
    assert means["mrr@10"] == 0.5


def test_query_without_results_counts_as_zero():
    means, per_q = evaluate_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}})
    assert per_q["q2"]["ndcg@10"] == 0.0
    assert means["ndcg@10"] == pytest.approx(0.5)


def test_mrr_cut_uses_trec_eval_tie_order():
    # tied scores: trec_eval orders ties by docno descending, so "b" (relevant) precedes "a"
    means, _ = evaluate_run({"q": {"b": 1}}, {"q": {"a": 1.0, "b": 1.0}})
    assert means["mrr@10"] == 1.0
