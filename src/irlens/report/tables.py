"""Result tables (markdown + CSV) built from the metrics JSON files of the pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from irlens.io import atomic_path, read_json, write_text

_COLS = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@100": "R@100", "map": "MAP"}


def retrieval_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """One row per (dataset, retriever) from ``metrics.json`` files written by ``irlens retrieval evaluate``."""
    rows = []
    for f in metric_files:
        m = read_json(f)
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


def write_table(
    df: pd.DataFrame, md_path: str | Path, csv_path: str | Path, title: str = "", floatfmt: str = ".4f"
) -> None:
    """Write ``df`` as CSV (5 decimals) and as a markdown table under ``title``, both atomically."""
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.5f")
    md = (f"## {title}\n\n" if title else "") + df.to_markdown(index=False, floatfmt=floatfmt) + "\n"
    write_text(md_path, md)
