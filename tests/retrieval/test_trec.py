"""TREC run files keep full score precision, and every ranking of a run dict is trec_eval's order."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.ig.ranking import top_k
from irlens.retrieval.trec import read_run, trec_order, write_run


def trec_eval_first(run: dict, qid: str) -> str:
    """The document pytrec_eval ranks first for ``qid``: the one whose P_1 is 1 when it alone is relevant."""
    import pytrec_eval

    first = [
        d for d in run[qid] if pytrec_eval.RelevanceEvaluator({qid: {d: 1}}, {"P_1"}).evaluate(run)[qid]["P_1"] == 1.0
    ]
    assert len(first) == 1
    return first[0]


def test_scores_differing_at_1e_8_survive_a_round_trip_in_order(tmp_path):
    run = {"q": {"a": 0.5 + 1e-8, "b": 0.5, "c": 0.5 - 1e-8, "d": float(np.float32(0.1234567)), "e": 1e-300}}
    write_run(run, tmp_path / "run.trec")
    back = read_run(tmp_path / "run.trec")
    assert back == run  # exactly: no rounding, hence no new ties
    assert sorted(back["q"], key=back["q"].get, reverse=True) == ["a", "b", "c", "d", "e"]
    # 1e-7 apart is a difference trec_eval sees (float32 step at 0.5: 6e-8); 6 decimals made it a tie
    run = {"q": {"a": 0.5000002, "b": 0.5000001, "c": 0.5}}
    write_run(run, tmp_path / "run.trec")
    back = read_run(tmp_path / "run.trec")
    assert trec_eval_first(back, "q") == trec_eval_first(run, "q") == "a"
    assert [d for d, _ in trec_order(back["q"])] == ["a", "b", "c"]
    ranks = [ln.split()[2:4] for ln in (tmp_path / "run.trec").read_text().splitlines()]
    assert ranks == [["a", "1"], ["b", "2"], ["c", "3"]]


@pytest.mark.parametrize(
    "scores",
    [
        {"d1": 1.0, "d2": 1.0, "d10": 1.0},
        {"a": 2.0, "b": 2.0, "c": 1.0},
        {"b": 0.5, "a": 0.5, "ab": 0.5},
        {"a": 0.5 + 1e-8, "b": 0.5},  # equal as float32, which is what trec_eval compares: a tie for it
    ],
)
def test_tied_scores_give_the_same_top_doc_in_top_k_the_file_and_pytrec_eval(tmp_path, scores):
    run = {"q": scores}
    first = trec_eval_first(run, "q")  # trec_eval: score descending, then docno descending
    assert top_k(run, "q", 1)[0][0] == first
    assert top_k(run, "q", 1)[0][1] == scores[first]  # the score itself is not rounded
    write_run(run, tmp_path / "run.trec")
    assert (tmp_path / "run.trec").read_text().split()[2] == first  # rank 1 in the file
    assert trec_eval_first(read_run(tmp_path / "run.trec"), "q") == first
