"""GPL's precondition: the teacher must rank better than the student it labels for.

GPL distils the teacher's margins into the student; with a teacher that ranks worse than the student, the
adapted model is pulled towards a weaker ranker and the base-vs-adapted comparison says nothing about GPL.
This check measures it on judged target-domain queries before labelling: the student's (base bi-encoder's)
top-``depth`` of each query is reranked by the teacher, and nDCG@10 of the student's ranking and of the
teacher's reranking are compared per query (paired t-test, :func:`irlens.ablation.stats.paired_ttest`).

``teacher_stronger`` is ``True`` when the 95% CI of the mean difference (teacher − student) lies above 0,
``False`` when it lies below 0 and ``"inconclusive"`` otherwise.

Ensemble teacher (``gpl.teacher_ensemble``, :func:`ensemble_scores`): a sum of components — ``teacher`` (the
cross-encoder's score), ``student`` (the base bi-encoder's similarity), ``bm25`` (Lucene BM25 of the pair) —
each divided by its scale σ_c, the mean over the check's queries of the per-query standard deviation of that
component over the student's top-``depth``. The check measures the ensemble and records the scales; the
pseudo-labels step reads them, so the margins it labels are margins of the very function the check ranked with
(``Σ_c (s_c(q,pos) − s_c(q,neg)) / σ_c``).
"""

from __future__ import annotations

import math

import numpy as np

from irlens.errors import IrlensError

#: Per-query metric the check compares.
METRIC = "ndcg@10"
#: Components of an ensemble teacher.
COMPONENTS = ("teacher", "student", "bm25")


def check_components(components) -> list[str]:
    """Validated ensemble components (unique, known); an empty list is the cross-encoder alone."""
    comps = list(components or [])
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or len(set(comps)) != len(comps):
        raise IrlensError(
            f"gpl teacher ensemble {comps}: expected distinct components of {', '.join(COMPONENTS)}"
            + (f"; '{bad[0]}' is not one" if bad else "")
        )
    return comps


class BM25Scorer:
    """BM25 (bm25s, Lucene variant, the retrieval stage's tokenisation) of any (query, document) of a corpus."""

    def __init__(self, corpus_texts: dict, k1: float = 0.9, b: float = 0.4, stemmer: str | None = "english"):
        import bm25s

        stem = None
        if stemmer and stemmer != "none":
            import Stemmer

            stem = Stemmer.Stemmer(stemmer)
        self._stem = stem
        self.ids = list(corpus_texts)
        self.row = {d: i for i, d in enumerate(self.ids)}
        tokens = bm25s.tokenize([corpus_texts[d] for d in self.ids], stopwords="en", stemmer=stem, show_progress=False)
        self.vocab = tokens.vocab
        self.bm25 = bm25s.BM25(method="lucene", k1=k1, b=b)
        self.bm25.index(tokens, show_progress=False)
        self._cache: dict[str, np.ndarray] = {}

    def scores(self, query: str) -> np.ndarray:
        """BM25 of ``query`` against every document (row order of ``ids``)."""
        if query not in self._cache:
            import bm25s

            q = bm25s.tokenize([query], stopwords="en", stemmer=self._stem, return_ids=False, show_progress=False)[0]
            q = [t for t in q if t in self.vocab]
            self._cache[query] = np.asarray(self.bm25.get_scores(q), dtype=np.float64) if q else np.zeros(len(self.ids))
        return self._cache[query]

    def pair(self, query: str, doc_id: str) -> float:
        """BM25 score of one document for ``query``."""
        return float(self.scores(query)[self.row[doc_id]])


def scales(component_runs: dict) -> dict:
    """σ_c of each component: the mean over queries of the (ddof 0) std of its scores in the query's pool."""
    out = {}
    for c, run in component_runs.items():
        sd = [float(np.std(list(docs.values()))) for docs in run.values() if len(docs) > 1]
        s = float(np.mean(sd)) if sd else 0.0
        if not s > 0:
            raise IrlensError(f"gpl teacher ensemble: component '{c}' has no spread over the check's pools")
        out[c] = s
    return out


def ensemble_scores(component_runs: dict, scale: dict) -> dict:
    """``Σ_c s_c(q, d) / σ_c`` for every (query, document) of the components' runs (same pools)."""
    comps = list(component_runs)
    first = component_runs[comps[0]]
    return {q: {d: sum(component_runs[c][q][d] / scale[c] for c in comps) for d in first[q]} for q in first}


def sample_queries(qids, n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` of ``qids`` (all of them when ``n`` is 0 or ≥ their number), sorted."""
    qids = sorted(qids)
    if n < 0:
        raise IrlensError(f"gpl teacher-check: queries must be >= 0 (0: all), got {n}")
    if n == 0 or n >= len(qids):
        return qids
    rng = np.random.default_rng(seed)
    return sorted(qids[i] for i in rng.choice(len(qids), size=n, replace=False))


def verdict(ci_low: float, ci_high: float):
    """``True`` (CI above 0), ``False`` (CI below 0) or ``"inconclusive"`` (CI holds 0, or undefined)."""
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    if ci_low > 0:
        return True
    if ci_high < 0:
        return False
    return "inconclusive"


def compare_rankings(qrels: dict, student_run: dict, teacher_run: dict) -> dict:
    """nDCG@10 of the student's and the teacher's rankings of the same queries, paired per query."""
    from irlens.ablation.stats import paired_ttest
    from irlens.retrieval.evaluate import evaluate_run

    qids = sorted(q for q in qrels if q in student_run)
    if not qids:
        raise IrlensError("gpl teacher-check: no judged query to compare")
    judged = {q: qrels[q] for q in qids}
    _, ps = evaluate_run(judged, {q: student_run[q] for q in qids})
    _, pt = evaluate_run(judged, {q: teacher_run.get(q, {}) for q in qids})
    s = np.array([ps[q][METRIC] for q in qids])
    t = np.array([pt[q][METRIC] for q in qids])
    r = paired_ttest(s, t)
    return {
        "metric": METRIC,
        "n": int(r["n"]),
        "student": float(r["original"]),
        "teacher": float(r["pruned"]),
        "mean_diff": float(r["mean_diff"]),
        "ci_low": float(r["ci_low"]),
        "ci_high": float(r["ci_high"]),
        "t": float(r["t"]),
        "p": float(r["p"]),
        "teacher_better": int((t > s).sum()),
        "teacher_worse": int((t < s).sum()),
        "teacher_stronger": verdict(float(r["ci_low"]), float(r["ci_high"])),
        "per_query": {q: {"student": float(a), "teacher": float(b)} for q, a, b in zip(qids, s, t)},
    }


def student_topk(query_emb: np.ndarray, corpus_emb: np.ndarray, corpus_ids: list[str], qids, depth: int, score: str):
    """The student's top-``depth`` of each query (rows of ``query_emb`` in ``qids`` order) as a run."""
    from irlens.retrieval.search import dense_search
    from irlens.retrieval.trec import run_from_topk

    scores, idx = dense_search(query_emb, corpus_emb, depth, score=score)
    return run_from_topk(list(qids), list(corpus_ids), scores, idx)


def rerank_with(teacher, run: dict, queries: dict, docs: dict, max_tokens: int = 8192, max_batch: int = 64) -> dict:
    """Every (query, document) of ``run`` rescored by ``teacher`` (a :class:`~irlens.models.CrossEncoder`)."""
    pairs = [(q, d) for q in run for d in run[q]]
    scores = teacher.score(
        [queries[q] for q, _ in pairs], [docs[d] for _, d in pairs], max_tokens=max_tokens, max_batch=max_batch
    )
    out: dict = {q: {} for q in run}
    for (q, d), s in zip(pairs, scores):
        out[q][d] = float(s)
    return out


def summary(rec: dict) -> str:
    """``teacher nDCG@10 X vs student Y on n held-out queries (Δ, 95% CI); teacher_stronger: V``."""
    v = rec["teacher_stronger"]
    return (
        f"teacher nDCG@10 {rec['teacher']:.3f} vs student {rec['student']:.3f} on {rec['n']} held-out "
        f"'{rec.get('split', '?')}' queries (Δ {rec['mean_diff']:+.3f}, 95% CI [{rec['ci_low']:+.3f}, "
        f"{rec['ci_high']:+.3f}], p {rec['p']:.3g}); teacher_stronger: {str(v).lower()}"
    )


def require_stronger(rec: dict, path: str = "") -> None:
    """One-line :class:`IrlensError` unless the check found the teacher stronger."""
    if rec.get("teacher_stronger") is not True:
        raise IrlensError(
            f"gpl: the teacher is not stronger than the student ({summary(rec)}{'; ' + path if path else ''}): "
            "GPL would distil a ranker no better than the student; configure a stronger gpl.teacher "
            "or set gpl.require_stronger_teacher: false to run anyway"
        )


def read_check(path) -> dict:
    """A ``teacher-check.json`` of ``irlens gpl teacher-check``."""
    from pathlib import Path

    from irlens.io import read_json

    if not Path(path).is_file():
        raise IrlensError(
            f"{path}: teacher check not found; run 'irlens gpl teacher-check' (the gpl_teacher_check rule)"
        )
    rec = read_json(path)
    if not isinstance(rec, dict) or not {"teacher", "student", "n", "teacher_stronger"} <= set(rec):
        raise IrlensError(f"{path}: not a teacher-check.json of 'irlens gpl teacher-check'; delete it and rerun")
    return rec
