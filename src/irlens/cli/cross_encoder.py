"""``irlens cross-encoder {train,rerank,table}``: the cross-encoder stage of the pipeline."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.cli.common import add_cross_encoder_args, load_cross_encoder_from_args
from irlens.errors import IrlensError

log = logging.getLogger("irlens")


def cmd_train(a: argparse.Namespace) -> None:
    """``irlens cross-encoder train``: fine-tune the reranker (resumable) into a save_pretrained folder."""
    from irlens.cross_encoder.train import train_cross_encoder
    from irlens.models.resolve import parse_pins

    if not Path(a.data).is_dir():
        raise IrlensError(f"{a.data}: dataset folder not found; run 'irlens data' (or the data rule) first")
    rec = train_cross_encoder(
        a.base,
        a.data,
        a.split,
        a.out,
        steps=a.steps,
        batch_size=a.batch,
        max_length=a.max_length,
        lr=a.lr,
        head_lr=a.head_lr,
        warmup=a.warmup,
        negatives_depth=a.negatives_depth,
        seed=a.seed,
        local_dirs=a.local_dir or [],
        pins=parse_pins(a.pin),
        top_grade_positives=not a.all_positives,
        threads=a.threads,
        device=a.device,
        log_every=a.log_every,
        checkpoint_every=a.checkpoint_every,
    )
    log.info(
        "trained %s: loss %.4f -> %.4f in %.1f s (%.2f s/step)",
        a.out,
        rec["loss_first"],
        rec["loss_last_mean"],
        rec["seconds_train"],
        rec["seconds_per_step"],
    )


def cmd_rerank(a: argparse.Namespace) -> None:
    """``irlens cross-encoder rerank``: rerank the head of a first-stage run; writes the run and its metrics."""
    import time

    from irlens.cross_encoder.rerank import evaluate_rerank, rerank, write_metrics
    from irlens.retrieval.trec import read_run, write_run

    first = read_run(a.run)  # checked before the model loads
    if not (Path(a.data) / "qrels" / f"{a.split}.tsv").is_file():
        raise IrlensError(
            f"{a.data}/qrels/{a.split}.tsv: file not found; run 'irlens data' first or pick another --split"
        )
    ce, resolved = load_cross_encoder_from_args(a)
    t = time.time()
    run = rerank(ce, a.data, a.split, first, depth=a.depth, max_tokens=a.max_tokens, max_batch=a.max_batch)
    secs = time.time() - t
    pairs = sum(min(a.depth, len(first.get(q, {}))) for q in run)
    log.info("reranked %d pairs in %.1f s (%.1f pairs/s)", pairs, secs, pairs / max(secs, 1e-9))
    write_run(run, a.out_run, tag=f"ce-{a.label}")
    means, per_query = evaluate_rerank(run, a.data, a.split)
    means = {**means, "rerank_pairs": pairs, "rerank_seconds": round(secs, 2)}
    backend = a.backend or f"cross-encoder rerank of {a.first_stage} top-{a.depth}"
    write_metrics(
        a.out,
        a.per_query,
        means,
        per_query,
        dataset=a.dataset,
        split=a.split,
        retriever=a.label,
        model=a.model_label or a.model,
        backend=backend,
        run=a.out_run,
    )
    log.info(
        "%s/%s %s: %s",
        a.dataset,
        a.split,
        a.label,
        {k: round(v, 5) if isinstance(v, float) else v for k, v in means.items()},
    )


def cmd_table(a: argparse.Namespace) -> None:
    """``irlens cross-encoder table``: systems x datasets table from metrics JSON files."""
    from irlens.cross_encoder.rerank import rerank_table
    from irlens.report.tables import write_table

    df = rerank_table(a.metrics, in_domain=a.in_domain or [])
    write_table(df, a.md, a.csv, title=a.title)
    print(df.to_string(index=False))


def add_parser(sub) -> None:
    """Register ``irlens cross-encoder ...`` on the top-level subparsers ``sub``."""
    ce = sub.add_parser("cross-encoder", help="train a cross-encoder reranker, rerank runs, tables")
    csub = ce.add_subparsers(dest="ce_cmd", required=True)

    t = csub.add_parser(
        "train", help="fine-tune a backbone with a 2-logit head on training qrels (BM25 hard negatives)"
    )
    t.add_argument("--base", default="sentence-transformers/all-MiniLM-L6-v2", help="HF id or folder of the backbone")
    t.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    t.add_argument("--split", default="train", help="qrels split the training pairs come from")
    t.add_argument("--out", required=True, help="output model folder (save_pretrained + training.json)")
    t.add_argument("--steps", type=int, default=100, help="optimizer steps")
    t.add_argument("--batch", type=int, default=16, help="(query, positive, negative) triples per step: 2x pairs")
    t.add_argument("--max-length", type=int, default=128, help="tokens per (query, document) pair")
    t.add_argument("--lr", type=float, default=5e-5, help="learning rate of the backbone")
    t.add_argument(
        "--head-lr",
        type=float,
        default=None,
        help="learning rate of the fresh classifier and the pooler (default: --lr)",
    )
    t.add_argument("--warmup", type=float, default=0.1, help="fraction of steps with linear warm-up")
    t.add_argument("--negatives-depth", type=int, default=30, help="BM25 depth the hard negatives come from")
    t.add_argument("--seed", type=int, default=42, help="seed of the sampling and of the new head")
    t.add_argument(
        "--all-positives",
        action="store_true",
        help="positives: every document judged >= 1 (default: the query's highest grade)",
    )
    t.add_argument("--log-every", type=int, default=10, help="log the loss every N steps")
    t.add_argument(
        "--checkpoint-every", type=int, default=0, help="save a resumable checkpoint every N steps (0: never)"
    )
    t.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
    t.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    t.set_defaults(func=cmd_train)

    r = csub.add_parser("rerank", help="rerank the top of a first-stage TREC run; writes the run and its metrics")
    add_cross_encoder_args(r)
    r.add_argument("--model-label", help="what the metrics JSON names as model (default: --model)")
    r.add_argument("--label", default="cross-encoder", help="retriever label in the metrics JSON / table")
    r.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    r.add_argument("--dataset", required=True, help="dataset name written into the metrics JSON")
    r.add_argument("--split", default="test", help="qrels split whose queries are reranked")
    r.add_argument("--run", required=True, help="first-stage TREC run")
    r.add_argument("--first-stage", default="bm25", help="name of the first stage (for the backend label)")
    r.add_argument("--depth", type=int, default=100, help="top documents of each query reranked")
    r.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per batch")
    r.add_argument("--max-batch", type=int, default=64, help="most pairs per batch")
    r.add_argument(
        "--backend",
        help="backend label in the metrics JSON (default: cross-encoder rerank of <first stage> top-<depth>)",
    )
    r.add_argument("--out-run", required=True, help="output TREC run (reranked)")
    r.add_argument("--out", required=True, help="metrics JSON (format of 'irlens retrieval evaluate')")
    r.add_argument("--per-query", help="also write per-query metrics here (TSV)")
    r.set_defaults(func=cmd_rerank)

    tb = csub.add_parser("table", help="systems x datasets table (nDCG@10, MRR@10) from metrics JSON files")
    tb.add_argument("--metrics", nargs="+", required=True, help="metrics JSON files of first stages and reranks")
    tb.add_argument("--in-domain", nargs="*", help="datasets the reranker was trained on (tagged ID; the rest OOD)")
    tb.add_argument("--title", default="Reranking effectiveness (test split)", help="table title")
    tb.add_argument("--md", required=True, help="output Markdown table")
    tb.add_argument("--csv", required=True, help="output CSV table")
    tb.set_defaults(func=cmd_table)
