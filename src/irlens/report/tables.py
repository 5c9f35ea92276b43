"""Result tables (markdown + CSV) built from the metrics JSON files of the pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from irlens.io import atomic_path, read_json, write_text

_COLS = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@100": "R@100", "map": "MAP"}


def _missing_metric_keys(m) -> list[str]:
    """The keys :func:`retrieval_table` needs that the loaded JSON ``m`` lacks (``metrics.<name>`` for metrics)."""
    if not isinstance(m, dict):
        return ["JSON object"]
    missing = [k for k in ("dataset", "split", "retriever") if k not in m]
    metrics = m.get("metrics")
    if not isinstance(metrics, dict):
        return [*missing, "metrics"]
    return missing + [f"metrics.{k}" for k in (*_COLS, "queries") if k not in metrics]


def retrieval_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per (dataset, retriever) from ``metrics.json`` files written by ``irlens retrieval evaluate``."""
    from irlens.errors import IrlensError

    rows = []
    for f in metric_files:
        m = read_json(f)
        missing = _missing_metric_keys(m)
        if missing:
            raise IrlensError(
                f"{f}: not a metrics JSON of 'irlens retrieval evaluate' (no {', '.join(missing)}); "
                "pass the metrics.json files the evaluate or rerank steps write"
            )
        rows.append(
            {
                "dataset": m["dataset"],
                "split": m["split"],
                "retriever": m["retriever"],
                "model": m.get("model", ""),
                "backend": m.get("backend", ""),
                **{_COLS[k]: m["metrics"][k] for k in _COLS},
                "queries": m["metrics"]["queries"],
            }
        )
    return pd.DataFrame(rows).sort_values(["dataset", "retriever"]).reset_index(drop=True)


def escape_cell(value) -> str:
    """``value`` as text fit for one markdown table cell: ``|`` becomes ``\\|`` and line breaks become spaces
    (an unescaped ``|``, e.g. in a header like ``|F(x) - F(x')|``, would split the cell and break the table)."""
    text = str(value)
    return text.replace("\\|", "|").replace("|", "\\|").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """``df.to_markdown(index=False)`` with every header and text cell passed through :func:`escape_cell`
    (numbers keep ``floatfmt``). Every markdown table irlens writes goes through this."""
    out = df.copy()
    out.columns = [escape_cell(c) if isinstance(c, str) else c for c in df.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if not pd.api.types.is_numeric_dtype(col):
            out.isetitem(i, [escape_cell(v) if isinstance(v, str) else v for v in col])
    return out.to_markdown(index=False, floatfmt=floatfmt)


def write_table(
    df: pd.DataFrame,
    md_path: str | Path,
    csv_path: str | Path,
    title: str = "",
    floatfmt: str = ".4f",
    footer: str = "",
) -> None:
    """Write ``df`` as CSV (5 decimals) and as a markdown table under ``title`` (``footer``: Markdown below
    the table), both atomically."""
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.5f")
    md = (f"## {title}\n\n" if title else "") + markdown_table(df, floatfmt=floatfmt) + "\n"
    if footer:
        md += "\n" + footer.rstrip("\n") + "\n"
    write_text(md_path, md)


def replicate_runs(df: pd.DataFrame, base: str, column: str = "variant") -> pd.DataFrame:
    """The rows of run ``base`` and of its seed replicas ``<base>-s<seed>`` (e.g. ``sae.seeds``)."""
    names = df[column].astype(str)
    return df[(names == base) | names.str.fullmatch(rf"{base}-s\d+")]


def replicate_summary(df: pd.DataFrame, base: str, columns, column: str = "variant") -> pd.DataFrame:
    """Per column of ``columns`` (those present): n runs, mean, sample sd (ddof 1; NaN for one run), min and
    max over ``base`` and its seed replicas (:func:`replicate_runs`) — the spread one training run hides."""
    runs = replicate_runs(df, base, column)
    rows = []
    for c in columns:
        if c not in runs:
            continue
        v = pd.to_numeric(runs[c], errors="coerce").dropna()
        if not len(v):
            continue
        sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        rows.append(
            {"column": c, "n": len(v), "mean": float(v.mean()), "sd": sd, "min": float(v.min()), "max": float(v.max())}
        )
    return pd.DataFrame(rows, columns=["column", "n", "mean", "sd", "min", "max"])
