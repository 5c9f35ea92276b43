"""``irlens gpl {queries,negatives,pseudo-labels,train,evaluate}``: GPL domain adaptation, step by step.

Each subcommand reads the previous step's files and writes its own atomically; every long step
resumes from ``<out>.partial/`` after a kill. See :mod:`irlens.gpl` for formats and defaults.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.resume import drop_partial
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


def _corpus(data: str):
    from irlens.data.beir import read_corpus

    f = Path(data) / "corpus.jsonl"
    if not f.is_file():
        raise IrlensError(f"{f}: file not found; run 'irlens data' (or the data rule) first")
    return read_corpus(f)


# ------------------------------------------------------------------------------------------ queries
def cmd_queries(a: argparse.Namespace) -> None:
    """``irlens gpl queries``: pseudo-queries (T5, training queries or ICT) and their qrels."""
    from irlens.gpl.queries import ict_queries, load_t5_generator, t5_queries, train_queries, write_queries
    from irlens.models.resolve import parse_pins

    set_threads(a.threads)
    if a.backend == "train-queries":
        from irlens.data.beir import load_beir

        if not Path(a.data).is_dir():
            raise IrlensError(f"{a.data}: dataset folder not found; run 'irlens data' (or the data rule) first")
        if not (Path(a.data) / "qrels" / f"{a.split}.tsv").is_file():
            raise IrlensError(
                f"{a.data}/qrels/{a.split}.tsv: file not found; the train-queries backend needs the dataset's "
                f"'{a.split}' qrels (keep the split in datasets.<name>.splits, or use the ict or t5 backend)"
            )
        queries, qrels = train_queries(load_beir(a.data, [a.split]), a.split)
        what = f"the {a.split} queries of {a.data}"
    elif a.backend == "ict":
        queries, qrels = ict_queries(
            _corpus(a.data), qpp=a.qpp, seed=a.seed, passages=a.passages, min_words=a.min_words, max_words=a.max_words
        )
        what = f"inverse-cloze spans (<= {a.max_words} words, sentence kept in the passage)"
    else:
        corpus = _corpus(a.data)
        gen, resolved = load_t5_generator(
            a.generator,
            a.local_dir or [],
            device=a.device,
            pins=parse_pins(a.pin),
            max_length=a.max_length,
            top_p=a.top_p,
            top_k=a.top_k,
            input_max_length=a.input_max_length,
        )
        extra = {
            "generator": resolved.sha256 or resolved.path,
            "max_length": a.max_length,
            "top_p": a.top_p,
            "top_k": a.top_k,
            "input_max_length": a.input_max_length,
        }
        queries, qrels = t5_queries(
            corpus,
            gen,
            qpp=a.qpp,
            batch_size=a.batch,
            seed=a.seed,
            passages=a.passages,
            partial_out=a.out_queries,
            key_extra=extra,
        )
        what = f"{a.generator} samples (top_p {a.top_p}, top_k {a.top_k}, max_length {a.max_length})"
    write_queries(queries, qrels, a.out_queries, a.out_qrels)
    drop_partial(a.out_queries)
    log.info(
        "wrote %s and %s: %d queries for %d passages (backend %s: %s)",
        a.out_queries,
        a.out_qrels,
        len(queries),
        len({d for r in qrels.values() for d in r}),
        a.backend,
        what,
    )


# ---------------------------------------------------------------------------------------- negatives
def cmd_negatives(a: argparse.Namespace) -> None:
    """``irlens gpl negatives``: hard negatives of every miner for each pseudo-query."""
    from irlens.gpl.negatives import mine_negatives
    from irlens.gpl.queries import read_queries_and_qrels
    from irlens.io import write_jsonl
    from irlens.models.resolve import parse_pins

    set_threads(a.threads)
    emb = {}
    for spec in a.corpus_emb or []:
        miner, sep, path = spec.rpartition("=")
        if not sep or not miner:
            raise IrlensError(f"gpl negatives: --corpus-emb wants MINER=PATH, got '{spec}'")
        if miner not in a.miners or miner == "bm25":
            raise IrlensError(
                f"--corpus-emb {spec}: '{miner}' is not a dense miner of --miners ({' '.join(a.miners)}); "
                "name the miner exactly as --miners does"
            )
        emb[miner] = path
    queries, qrels = read_queries_and_qrels(a.queries, a.qrels)
    recs = mine_negatives(
        _corpus(a.data),
        queries,
        qrels,
        a.miners,
        k=a.k,
        score=a.score,
        corpus_emb=emb,
        local_dirs=a.local_dir or [],
        pins=parse_pins(a.pin),
        device=a.device,
        max_seq_length=a.max_seq_length,
        max_tokens=a.max_tokens,
        max_batch=a.max_batch,
        threads=a.threads or 1,
        partial_out=a.out,
    )
    write_jsonl(a.out, recs)
    drop_partial(a.out)
    log.info("wrote %s: %d queries, miners %s, top-%d minus positives", a.out, len(recs), ", ".join(a.miners), a.k)


# ------------------------------------------------------------------------------------ pseudo-labels
def cmd_pseudo_labels(a: argparse.Namespace) -> None:
    """``irlens gpl pseudo-labels``: teacher margins of sampled (query, positive, negative) tuples."""
    import time

    import numpy as np

    from irlens.data.beir import doc_text
    from irlens.gpl.labels import pseudo_label, sample_tuples, write_training_data
    from irlens.gpl.negatives import read_hard_negatives
    from irlens.models import load_cross_encoder
    from irlens.models.resolve import parse_pins

    set_threads(a.threads)
    if a.steps < 1 or a.batch < 1:
        raise IrlensError(f"gpl pseudo-labels: steps ({a.steps}) and batch ({a.batch}) must be >= 1")
    records = read_hard_negatives(a.negatives)
    from irlens.data.beir import read_queries

    if not Path(a.queries).is_file():
        raise IrlensError(f"{a.queries}: file not found; run 'irlens gpl queries' first")
    queries = read_queries(a.queries)
    corpus = _corpus(a.data)
    tuples = sample_tuples(records, a.steps * a.batch, a.seed)
    for q, p, n in tuples:
        if q not in queries:
            raise IrlensError(f"{a.negatives}: query '{q}' is not in {a.queries}; were both written by the same run?")
        for d in (p, n):
            if d not in corpus:
                raise IrlensError(
                    f"{a.negatives}: passage '{d}' is not in {a.data}/corpus.jsonl; is it this dataset's?"
                )
    ce, resolved = load_cross_encoder(
        a.teacher,
        a.local_dir or [],
        device=a.device,
        max_length=a.ce_max_length,
        relevant_label=a.relevant_label,
        pins=parse_pins(a.pin),
    )
    docs = {d: doc_text(corpus[d]) for _, p, n in tuples for d in (p, n)}
    log.info(
        "pseudo-labelling %d tuples (%d steps x %d) with %s: texts retokenised to %s tokens, pairs to %d",
        len(tuples),
        a.steps,
        a.batch,
        a.teacher,
        a.max_length or "(no limit)",
        ce.max_length,
    )
    t = time.time()
    from irlens.resume import digest

    extra = {
        "teacher": resolved.sha256 or resolved.path,
        "ce_max_length": ce.max_length,
        "relevant_label": ce.relevant_label,
        "num_labels": ce.num_labels,
        "texts": digest([(q, queries[q]) for q in dict.fromkeys(x[0] for x in tuples)] + sorted(docs.items())),
    }
    margins = pseudo_label(
        ce,
        tuples,
        queries,
        docs,
        max_length=a.max_length or None,
        chunk=a.chunk,
        max_tokens=a.max_tokens,
        max_batch=a.max_batch,
        partial_out=a.out,
        key_extra=extra,
    )
    write_training_data(a.out, tuples, margins)
    drop_partial(a.out)
    secs = time.time() - t
    log.info(
        "wrote %s: %d tuples in %.1f s; margins mean %.3f, std %.3f, %.1f%% positive",
        a.out,
        len(tuples),
        secs,
        float(np.mean(margins)),
        float(np.std(margins)),
        100 * float((margins > 0).mean()),
    )


# -------------------------------------------------------------------------------------------- train
def cmd_train(a: argparse.Namespace) -> None:
    """``irlens gpl train``: MarginMSE training of the student bi-encoder (checkpointed, resumable)."""
    from irlens.gpl.train import train_gpl
    from irlens.models.resolve import parse_pins

    if not Path(a.data).is_dir():
        raise IrlensError(f"{a.data}: dataset folder not found; run 'irlens data' (or the data rule) first")
    rec = train_gpl(
        a.base,
        a.data,
        a.queries,
        a.training_data,
        a.out,
        steps=a.steps,
        batch_size=a.batch,
        max_length=a.max_length,
        lr=a.lr,
        warmup_steps=a.warmup_steps,
        weight_decay=a.weight_decay,
        rescale_range=tuple(a.rescale_range) if a.rescale_range else None,
        seed=a.seed,
        checkpoint_every=a.checkpoint_every,
        local_dirs=a.local_dir or [],
        pins=parse_pins(a.pin),
        threads=a.threads,
        device=a.device,
        log_every=a.log_every,
    )
    log.info(
        "trained %s: MarginMSE %.4f -> %.4f in %.1f s (%.2f s/step%s)",
        a.out,
        rec["loss_first"],
        rec["loss_last_mean"],
        rec["seconds_train"],
        rec["seconds_per_step"],
        f", resumed at step {rec['resumed_at_step']}" if rec["resumed_at_step"] else "",
    )


# ----------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(a: argparse.Namespace) -> None:
    """``irlens gpl evaluate``: base vs adapted per-query metrics with paired t-tests."""
    from irlens.gpl.compare import comparison_table
    from irlens.report.tables import write_table

    df = comparison_table([tuple(c) for c in a.compare], metrics=a.metrics)
    write_table(df, a.md, a.csv, title=a.title)
    print(df.to_string(index=False))


# ------------------------------------------------------------------------------------------- parser
def add_parser(sub) -> None:
    """Register ``irlens gpl ...`` on the top-level subparsers ``sub``."""
    g = sub.add_parser(
        "gpl", help="GPL domain adaptation: queries, negatives, pseudo-labels, MarginMSE training, base vs adapted"
    )
    gs = g.add_subparsers(dest="gpl_cmd", required=True)

    def common(p, device="auto"):
        p.add_argument("--local-dir", action="append", help="local model folder(s) (<dir>/<org>__<name>/)")
        p.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
        p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
        p.add_argument("--device", default=device, help="auto | cpu | cuda | cuda:N")

    q = gs.add_parser("queries", help="pseudo-queries (t5 | train-queries | ict) -> queries.jsonl + qrels.tsv")
    q.add_argument(
        "--backend",
        choices=["t5", "train-queries", "ict"],
        required=True,
        help="t5: generated; train-queries: the dataset's own --split queries; ict: inverse-cloze spans",
    )
    q.add_argument("--data", required=True, help="prepared dataset folder (results/data/<dataset>)")
    q.add_argument("--out-queries", required=True, help="output queries.jsonl")
    q.add_argument("--out-qrels", required=True, help="output qrels TSV (each query's source passage)")
    q.add_argument("--split", default="train", help="train-queries: the qrels split whose queries are used")
    q.add_argument(
        "--qpp",
        type=int,
        default=-1,
        help="t5/ict: queries per passage; -1 = GPL's rule ceil(250K/|C|) if 3|C| < 250K else 3",
    )
    q.add_argument(
        "--passages", type=int, default=0, help="t5/ict: seeded sample of this many passages (0: all; GPL's new_size)"
    )
    q.add_argument("--seed", type=int, default=42, help="seed of the passage sample and the generation")
    q.add_argument(
        "--generator", default="BeIR/query-gen-msmarco-t5-base-v1", help="t5: HF id or folder of the seq2seq generator"
    )
    q.add_argument("--batch", type=int, default=10, help="t5: passages per generate call (GPL CLI: 10)")
    q.add_argument("--max-length", type=int, default=64, help="t5: generated tokens")
    q.add_argument("--top-p", type=float, default=0.95, help="t5: nucleus sampling p")
    q.add_argument("--top-k", type=int, default=25, help="t5: top-k sampling")
    q.add_argument("--input-max-length", type=int, default=512, help="t5: passage tokens read")
    q.add_argument("--min-words", type=int, default=4, help="ict: shortest sentence used")
    q.add_argument("--max-words", type=int, default=16, help="ict: longest span")
    common(q)
    q.set_defaults(func=cmd_queries)

    n = gs.add_parser("negatives", help="hard negatives: top-k of each miner (bi-encoders, bm25) minus positives")
    n.add_argument("--data", required=True, help="prepared dataset folder (its corpus is mined)")
    n.add_argument("--queries", required=True, help="queries.jsonl of 'irlens gpl queries'")
    n.add_argument("--qrels", required=True, help="qrels TSV of 'irlens gpl queries' (positives, never negatives)")
    n.add_argument(
        "--miners",
        nargs="+",
        default=["sentence-transformers/all-MiniLM-L6-v2"],
        help="HF ids / folders of bi-encoders, and/or bm25",
    )
    n.add_argument(
        "--corpus-emb",
        action="append",
        help="MINER=PATH: corpus embeddings written by 'irlens retrieval encode' for that miner (skips re-encoding)",
    )
    n.add_argument("--k", type=int, default=50, help="negatives per miner before removing positives (GPL: 50)")
    n.add_argument("--score", choices=["cos", "dot"], default="cos", help="dense miners' similarity (GPL: cos_sim)")
    n.add_argument(
        "--max-seq-length", type=int, help="dense miners: truncate texts to this many tokens (default: the model's)"
    )
    n.add_argument("--max-tokens", type=int, default=16384, help="dense miners: padded tokens per batch")
    n.add_argument("--max-batch", type=int, default=256, help="dense miners: most texts per batch")
    n.add_argument("--out", required=True, help="hard-negatives.jsonl")
    common(n)
    n.set_defaults(func=cmd_negatives)

    p = gs.add_parser("pseudo-labels", help="teacher margins CE(q,pos) - CE(q,neg) for steps x batch sampled tuples")
    p.add_argument("--data", required=True, help="prepared dataset folder (the passage texts)")
    p.add_argument("--queries", required=True, help="queries.jsonl of 'irlens gpl queries'")
    p.add_argument("--negatives", required=True, help="hard-negatives.jsonl")
    p.add_argument("--teacher", required=True, help="HF id or folder of the cross-encoder")
    p.add_argument("--steps", type=int, required=True, help="training steps the tuples are for (GPL: 140000)")
    p.add_argument("--batch", type=int, required=True, help="tuples per training step (GPL: 32)")
    p.add_argument(
        "--max-length",
        type=int,
        default=350,
        help="tokens each of query / positive / negative is cut to before scoring (GPL: 350; 0 = no cut)",
    )
    p.add_argument("--ce-max-length", type=int, help="tokens of the scored pair (default: the teacher's limit, <= 512)")
    p.add_argument("--relevant-label", type=int, help="2-logit heads: index of 'relevant' (default 1)")
    p.add_argument("--seed", type=int, default=42, help="seed of the tuple sampling")
    p.add_argument("--chunk", type=int, default=2048, help="tuples per resumable chunk")
    p.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per teacher batch")
    p.add_argument("--max-batch", type=int, default=64, help="most pairs per teacher batch")
    p.add_argument("--out", required=True, help="gpl-training-data.tsv")
    common(p)
    p.set_defaults(func=cmd_pseudo_labels)

    t = gs.add_parser("train", help="MarginMSE training of the student bi-encoder (checkpointed, resumable)")
    t.add_argument(
        "--base",
        required=True,
        help="HF id or folder of the student (sentence-transformers or HF; mean pooling for HF)",
    )
    t.add_argument("--data", required=True, help="prepared dataset folder (the passage texts)")
    t.add_argument("--queries", required=True, help="queries.jsonl of 'irlens gpl queries'")
    t.add_argument("--training-data", required=True, help="gpl-training-data.tsv")
    t.add_argument("--out", required=True, help="output model folder (sentence-transformers)")
    t.add_argument("--steps", type=int, default=140000, help="training steps (GPL: 140000; as given to pseudo-labels)")
    t.add_argument("--batch", type=int, default=32, help="tuples per step (GPL: 32; as given to pseudo-labels)")
    t.add_argument("--max-length", type=int, default=350, help="tokens each query / passage is cut to (GPL: 350)")
    t.add_argument("--lr", type=float, default=2e-5, help="learning rate (GPL: 2e-5)")
    t.add_argument("--warmup-steps", type=int, default=1000, help="linear warm-up steps (GPL: 1000)")
    t.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (GPL: 0.01)")
    t.add_argument(
        "--rescale-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="GPL's rescale_range for cosine students"
    )
    t.add_argument("--seed", type=int, default=42, help="training seed")
    t.add_argument("--checkpoint-every", type=int, default=0, help="resumable checkpoint every N steps (0: none)")
    t.add_argument("--log-every", type=int, default=10, help="log the loss every N steps")
    common(t, device="cpu")
    t.set_defaults(func=cmd_train)

    e = gs.add_parser("evaluate", help="base vs adapted per-query metrics with paired t-tests (md + csv)")
    e.add_argument(
        "--compare",
        nargs=3,
        action="append",
        required=True,
        metavar=("DATASET", "BASE_TSV", "ADAPTED_TSV"),
        help="per_query.tsv of each model (irlens retrieval evaluate --per-query), optionally as LABEL=PATH",
    )
    e.add_argument(
        "--metrics",
        nargs="+",
        default=["ndcg@10", "mrr@10", "recall@100"],
        help="metrics compared (columns of the per-query files)",
    )
    e.add_argument(
        "--title", default="GPL: base vs adapted (paired two-tailed t-test over queries)", help="table title"
    )
    e.add_argument("--md", required=True, help="output Markdown table")
    e.add_argument("--csv", required=True, help="output CSV table")
    e.set_defaults(func=cmd_evaluate)
