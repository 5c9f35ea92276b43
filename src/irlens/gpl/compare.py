"""GPL step 5: base vs adapted retrieval, per query, with a paired two-tailed t-test.

Both models go through the ordinary retrieval stage (``irlens retrieval encode`` → ``retrieve`` → ``evaluate
--per-query``, metrics as :mod:`irlens.retrieval.evaluate` defines them); this step reads the two
per-query TSVs of each dataset and writes one row per (dataset, metric): both means, the difference,
the relative change, the number of queries that improve / get worse, and Student's paired t-test
(:func:`irlens.ablation.stats.paired_ttest`) over the queries.
"""

from __future__ import annotations

import csv
from pathlib import Path

from irlens.errors import IrlensError

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@100")


def read_per_query(path: str | Path) -> dict[str, dict[str, float]]:
    """``query-id \\t metric ...`` (``irlens retrieval evaluate --per-query``) → ``{qid: {metric: value}}``."""
    path = Path(path)
    if not path.is_file():
        raise IrlensError(
            f"{path}: per-query metrics not found; "
            "run 'irlens retrieval evaluate --per-query' (or the evaluate rule) first"
        )
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows or rows[0][0] != "query-id":
        raise IrlensError(
            f"{path}: expected a header 'query-id<TAB>metric...'; is it a per_query.tsv of 'irlens retrieval evaluate'?"
        )
    head = rows[0][1:]
    out = {}
    for lineno, r in enumerate(rows[1:], 2):
        if len(r) != len(head) + 1:
            raise IrlensError(f"{path}:{lineno}: expected {len(head) + 1} columns, got {len(r)}")
        try:
            out[r[0]] = {m: float(v) for m, v in zip(head, r[1:])}
        except ValueError:
            raise IrlensError(f"{path}:{lineno}: a metric value is not a number") from None
    return out


def compare_per_query(
    base: dict,
    adapted: dict,
    metrics=DEFAULT_METRICS,
    dataset: str = "",
    base_label: str = "base",
    adapted_label: str = "adapted",
) -> list[dict]:
    """One row per metric: means, difference, wins/losses and the paired t-test over the shared queries."""
    import numpy as np

    from irlens.ablation.stats import paired_ttest

    if set(base) != set(adapted):
        only = sorted(set(base) ^ set(adapted))
        raise IrlensError(
            f"gpl evaluate{' ' + dataset if dataset else ''}: base and adapted were scored on different queries "
            f"(e.g. '{only[0]}', {len(only)} differ); evaluate both on the same split"
        )
    qids = sorted(base)
    rows = []
    for m in metrics:
        if qids and (m not in base[qids[0]] or m not in adapted[qids[0]]):
            raise IrlensError(f"gpl evaluate: metric '{m}' not in the per-query files")
        a = np.array([base[q][m] for q in qids])
        b = np.array([adapted[q][m] for q in qids])
        t = paired_ttest(a, b)
        rows.append(
            {
                "dataset": dataset,
                "metric": m,
                "base_model": base_label,
                "adapted_model": adapted_label,
                "base": t["original"],
                "adapted": t["pruned"],
                "diff": t["pruned"] - t["original"],
                "pct_diff": t["pct_diff"],
                "better": int((b > a).sum()),
                "worse": int((b < a).sum()),
                "t": t["t"],
                "p": t["p"],
                "n": t["n"],
            }
        )
    return rows


def _labelled(spec: str, default: str) -> tuple[str, str]:
    """``LABEL=PATH`` or ``PATH`` → ``(label, path)``."""
    label, sep, path = spec.partition("=")
    return (label, path) if sep and label and "/" not in label else (default, spec)


NOT_A_TEST = "the teacher is not stronger than the student, so this base-vs-adapted comparison is not a test of GPL"


def teacher_columns(check: dict | None) -> dict:
    """The teacher check of one (dataset, base) as table columns (NaN / "not checked" without one)."""
    if check is None:
        nan = float("nan")
        return {
            "teacher_ndcg@10": nan,
            "student_ndcg@10": nan,
            "teacher_diff": nan,
            "teacher_ci_low": nan,
            "teacher_ci_high": nan,
            "teacher_n": 0,
            "teacher_stronger": "not checked",
        }
    return {
        "teacher_ndcg@10": check["teacher"],
        "student_ndcg@10": check["student"],
        "teacher_diff": check["mean_diff"],
        "teacher_ci_low": check["ci_low"],
        "teacher_ci_high": check["ci_high"],
        "teacher_n": check["n"],
        "teacher_stronger": str(check["teacher_stronger"]).lower(),
    }


def teacher_notes(checks: dict) -> str:
    """Markdown lines under the table: each check's summary, and the verdict when the teacher is not stronger."""
    from irlens.gpl.teacher_check import summary

    lines = []
    for (dataset, base), c in checks.items():
        line = f"- Teacher check, {dataset} / {base}: {summary(c)}"
        if c["teacher_stronger"] is not True:
            line += f". **Not a test of GPL**: {NOT_A_TEST}."
        lines.append(line)
    return "\n".join(lines)


def comparison_table(specs: list[tuple[str, str, str]], metrics=DEFAULT_METRICS, teacher_checks: dict | None = None):
    """``specs`` = ``[(dataset, [LABEL=]base per_query.tsv, [LABEL=]adapted per_query.tsv)]`` → a DataFrame,
    one row per dataset × metric (columns ``base`` / ``adapted`` hold the means; labels in ``*_model``).

    ``teacher_checks`` (``{(dataset, base label): teacher-check.json record}``) adds the ``teacher_*`` columns
    (:func:`teacher_columns`): the teacher's and the student's nDCG@10 on the check's held-out queries."""
    import pandas as pd

    if not specs:
        raise IrlensError("gpl evaluate: nothing to compare; give --compare DATASET BASE_TSV ADAPTED_TSV")
    rows = []
    for dataset, b, a in specs:
        (bl, bp), (al, ap) = _labelled(b, "base"), _labelled(a, "adapted")
        got = compare_per_query(read_per_query(bp), read_per_query(ap), metrics, dataset, bl, al)
        if teacher_checks is not None:
            got = [{**r, **teacher_columns(teacher_checks.get((dataset, bl)))} for r in got]
        rows += got
    return pd.DataFrame(rows)
