"""``irlens report {table,claims}``: the results table of every retriever x dataset and the Claims table of the
landing page (workflow/rules/report.smk)."""

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


def cmd_claims(a: argparse.Namespace) -> None:
    """``irlens report claims``: every paper claim with its measured effect and verdict (markdown + CSV)."""
    from irlens.report.claims import claims_table, write_claims

    df = claims_table(
        gpl=a.gpl,
        ig=a.ig,
        nig=a.nig or None,
        ablation=a.ablation or None,
        sae_variants=a.sae_variants,
        sae_control=a.sae_control,
        adapted=a.adapted or None,
    )
    write_claims(df, a.md, a.csv)
    print(df[["claim", "evidence", "verdict"]].to_string(index=False))


def add_parser(sub) -> None:
    """Register ``irlens report ...`` on the top-level subparsers ``sub``."""
    rp = sub.add_parser("report", help="report tables (the retrieval results table, the Claims table)")
    sub = rp.add_subparsers(dest="report_cmd", required=True)

    t = sub.add_parser("table", help="results table (markdown + CSV) from metrics JSON files")
    t.add_argument(
        "--metrics", nargs="+", required=True, help="metrics JSON files of 'irlens retrieval evaluate' (one row each)"
    )
    t.add_argument("--md", required=True, help="output Markdown table")
    t.add_argument("--csv", required=True, help="output CSV table")
    t.set_defaults(func=cmd_table)

    c = sub.add_parser(
        "claims",
        help="Claims table: each paper claim, its measured effect, CI / corrected p and verdict (markdown + CSV)",
        description="A table not given (stage not configured) or missing gives the claim a 'not run' row.",
    )
    c.add_argument("--gpl", help="reports/tables/gpl/base-vs-adapted.csv of 'irlens gpl evaluate' (claim 1)")
    c.add_argument("--ig", help="reports/tables/ig/paired_differences.csv of 'irlens ig tables' (claims 2, 3)")
    c.add_argument(
        "--adapted",
        nargs="*",
        default=[],
        help="models of the IG table that are GPL-adapted (claims 2, 3; default: every model compared with the base)",
    )
    c.add_argument(
        "--nig",
        nargs="*",
        default=[],
        help="reports/tables/nig/<ce>/intersections.csv of 'irlens nig schemes' (claim 4)",
    )
    c.add_argument(
        "--ablation",
        nargs="*",
        default=[],
        help="reports/tables/ablation/<ce>/table4.csv of 'irlens ablation table' (claim 5)",
    )
    c.add_argument("--sae-variants", help="reports/tables/sae/<model>/variants.csv of 'irlens sae table' (claim 6)")
    c.add_argument("--sae-control", help="reports/tables/sae/<model>/control.csv of 'irlens sae control' (claim 7)")
    c.add_argument("--md", required=True, help="output Markdown table")
    c.add_argument("--csv", required=True, help="output CSV table")
    c.set_defaults(func=cmd_claims)
