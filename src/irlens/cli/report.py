"""``irlens report table``: the results table of every retriever x dataset (workflow/rules/report.smk)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("irlens")


def cmd_table(a: argparse.Namespace) -> None:
    """``irlens report table``: the retrieval results table (markdown + CSV) from metrics JSON files."""
    from irlens.report.tables import retrieval_table, write_table

    df = retrieval_table(a.metrics)
    write_table(df, a.md, a.csv, title="Retrieval effectiveness (test split)")
    print(df.to_string(index=False))


def add_parser(sub) -> None:
    """Register ``irlens report ...`` on the top-level subparsers ``sub``."""
    rp = sub.add_parser("report", help="report tables (the retrieval results table)")
    sub = rp.add_subparsers(dest="report_cmd", required=True)

    t = sub.add_parser("table", help="results table (markdown + CSV) from metrics JSON files")
    t.add_argument(
        "--metrics", nargs="+", required=True, help="metrics JSON files of 'irlens retrieval evaluate' (one row each)"
    )
    t.add_argument("--md", required=True, help="output Markdown table")
    t.add_argument("--csv", required=True, help="output CSV table")
    t.set_defaults(func=cmd_table)
