"""``irlens data``: fetch, verify and normalise a BEIR dataset (workflow/rules/data.smk)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("irlens")


def cmd_data(a: argparse.Namespace) -> None:
    """``irlens data``: fetch, verify, normalise (and optionally subsample) one BEIR dataset."""
    from irlens.data import prepare_dataset

    sub = None
    if a.subsample_queries:
        sub = {"queries": a.subsample_queries, "distractors": a.subsample_distractors, "seed": a.seed}
    m = prepare_dataset(
        a.dataset,
        a.out,
        mirrors=a.mirror or [],
        download_dir=a.download_dir,
        irds_id=a.irds,
        splits=a.split,
        subsample=sub,
        empty_texts=a.empty_texts,
        dangling_qrels=a.dangling_qrels,
    )
    log.info("%s: %s", a.dataset, m["counts"])


def add_parser(sub) -> None:
    """Register ``irlens data`` on the top-level subparsers ``sub``."""
    d = sub.add_parser("data", help="fetch/verify/normalise a BEIR dataset into a folder")
    d.add_argument("--dataset", required=True, help="BEIR name, e.g. scifact")
    d.add_argument(
        "--out", required=True, help="output folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv, manifest.json"
    )
    d.add_argument(
        "--mirror", action="append", help="folder holding <dataset>/corpus.jsonl (repeatable, tried in order)"
    )
    d.add_argument("--download-dir", help="where the official BEIR zip is downloaded if no mirror has the dataset")
    d.add_argument("--irds", help="ir_datasets id to use when no mirror has the dataset")
    d.add_argument("--split", action="append", help="qrels split to keep (repeatable; default: all)")
    d.add_argument("--subsample-queries", type=int, default=0, help="keep this many judged queries per split (0: all)")
    d.add_argument(
        "--subsample-distractors",
        type=int,
        default=0,
        help="with --subsample-queries: random unjudged documents kept too",
    )
    d.add_argument("--seed", type=int, default=0, help="seed of the subsample")
    d.add_argument(
        "--empty-texts",
        choices=["error", "drop"],
        default="error",
        help="queries, or documents with empty title and text (whitespace only counts as empty): "
        "error (default), or drop them and their qrels rows (counted in manifest.json)",
    )
    d.add_argument(
        "--dangling-qrels",
        choices=["error", "keep"],
        default="error",
        help="qrels rows of a kept split naming a query or document absent from the files (a truncated mirror): "
        "error (default), or keep them as BEIR does, with a warning (for qrels that knowingly do, e.g. ArguAna)",
    )
    d.set_defaults(func=cmd_data)
