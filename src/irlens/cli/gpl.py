"""``irlens gpl {queries,negatives,teacher-check,pseudo-labels,train,evaluate}``: GPL domain adaptation, step by step.

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


def _load_teacher(a: argparse.Namespace):
    """``(CrossEncoder, ResolvedModel)`` of the GPL teacher from ``--teacher`` and its cross-encoder flags."""
    from irlens.models import load_cross_encoder
    from irlens.models.resolve import parse_pins

    return load_cross_encoder(
        a.teacher,
        a.local_dir or [],
        device=a.device,
        max_length=a.ce_max_length,
        relevant_label=a.relevant_label,
        pins=parse_pins(a.pin),
    )


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


# ------------------------------------------------------------------------------------ teacher-check
def cmd_teacher_check(a: argparse.Namespace) -> None:
    """``irlens gpl teacher-check``: teacher vs student nDCG@10 on held-out judged queries (GPL's precondition)."""
    import numpy as np

    from irlens.data.beir import doc_text, read_qrels, read_queries
    from irlens.gpl.teacher_check import (
        BM25Scorer,
        check_components,
        compare_rankings,
        ensemble_scores,
        rerank_with,
        sample_queries,
        scales,
        student_topk,
        summary,
    )
    from irlens.io import write_json
    from irlens.retrieval.encode import load_embeddings

    set_threads(a.threads)
    if a.depth < 10:
        raise IrlensError(f"gpl teacher-check: depth must be >= 10 (nDCG@10 of the reranked top-k), got {a.depth}")
    qrels_file = Path(a.data) / "qrels" / f"{a.split}.tsv"
    if not qrels_file.is_file():
        raise IrlensError(
            f"{qrels_file}: file not found; the teacher check needs judged queries of split '{a.split}' "
            "(keep the split in datasets.<name>.splits, or set gpl.teacher_check.split)"
        )
    queries = read_queries(Path(a.data) / "queries.jsonl")
    corpus = _corpus(a.data)
    c_emb, c_ids, _ = load_embeddings(a.corpus_emb)
    q_emb, q_ids, _ = load_embeddings(a.query_emb)
    if set(c_ids) != set(corpus):
        raise IrlensError(
            f"{a.corpus_emb}: its ids are not the corpus of {a.data}; were both written for this dataset?"
        )
    row = {q: i for i, q in enumerate(q_ids)}
    qrels = {q: r for q, r in read_qrels(qrels_file).items() if r and q in queries and q in row}
    if not qrels:
        raise IrlensError(f"gpl teacher-check: no judged query of {qrels_file} has an embedding in {a.query_emb}")
    qids = sample_queries(qrels, a.queries, a.seed)
    srun = student_topk(np.asarray(q_emb)[[row[q] for q in qids]], c_emb, c_ids, qids, a.depth, a.score)
    comps = check_components(a.ensemble)
    docs = {d: doc_text(corpus[d]) for q in srun for d in srun[q]}
    runs, ens, sha, ce_len = {}, {}, "", None
    if not comps or "teacher" in comps:
        ce, resolved = _load_teacher(a)
        sha, ce_len = resolved.sha256 or "", ce.max_length
        log.info("teacher check: reranking %d queries x top-%d of the student with %s", len(qids), a.depth, a.teacher)
        runs["teacher"] = rerank_with(ce, srun, queries, docs, max_tokens=a.max_tokens, max_batch=a.max_batch)
    judged = {q: qrels[q] for q in qids}
    if comps:
        if "student" in comps:
            runs["student"] = srun
        if "bm25" in comps:
            bm = BM25Scorer({d: doc_text(corpus[d]) for d in corpus}, k1=a.k1, b=a.b, stemmer=a.stemmer)
            runs["bm25"] = {q: {d: bm.pair(queries[q], d) for d in srun[q]} for q in qids}
        runs = {c: runs[c] for c in comps}
        scale = scales(runs)
        ens = {
            "ensemble": comps,
            "scales": scale,
            "bm25": {"k1": a.k1, "b": a.b, "stemmer": a.stemmer},
            "components": {c: compare_rankings(judged, srun, r)["teacher"] for c, r in runs.items()},
        }
        trun = ensemble_scores(runs, scale)
    else:
        trun = runs["teacher"]
    rec = compare_rankings(judged, srun, trun)
    rec = {
        "dataset": a.dataset or Path(a.data).name,
        "split": a.split,
        "eval_split": a.eval_split,
        "split_is_eval_split": a.split == a.eval_split if a.eval_split else None,
        "student_model": a.student or a.corpus_emb,
        "teacher_model": a.teacher if not comps else f"ensemble({' + '.join(comps)}; teacher = {a.teacher})",
        "teacher_sha256": sha,
        "depth": a.depth,
        "queries_requested": a.queries,
        "seed": a.seed,
        "score": a.score,
        "ce_max_length": ce_len,
        **ens,
        **rec,
    }
    rec["summary"] = summary(rec)
    write_json(a.out, rec)
    log.info("wrote %s: %s", a.out, rec["summary"])


def _ce_margins(a, tuples, queries, docs):
    """Cross-encoder margins CE(q, pos) − CE(q, neg) of ``tuples`` (resumable)."""
    from irlens.gpl.labels import pseudo_label
    from irlens.resume import digest

    ce, resolved = _load_teacher(a)
    log.info(
        "pseudo-labelling %d tuples (%d steps x %d) with %s: texts retokenised to %s tokens, pairs to %d",
        len(tuples),
        a.steps,
        a.batch,
        a.teacher,
        a.max_length or "(no limit)",
        ce.max_length,
    )
    extra = {
        "teacher": resolved.sha256 or resolved.path,
        "ce_max_length": ce.max_length,
        "relevant_label": ce.relevant_label,
        "num_labels": ce.num_labels,
        "texts": digest([(q, queries[q]) for q in dict.fromkeys(x[0] for x in tuples)] + sorted(docs.items())),
    }
    return pseudo_label(
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


def _ensemble_margins(a, check, comps, ce_margins, tuples, queries, corpus):
    """Σ_c margin_c / σ_c of the ensemble teacher, with the scales (and BM25 settings) of the teacher check."""
    import numpy as np

    from irlens.data.beir import doc_text
    from irlens.gpl.teacher_check import BM25Scorer

    scale = check["scales"]
    out = np.zeros(len(tuples))
    if "teacher" in comps:
        out += np.asarray(ce_margins, dtype=np.float64) / scale["teacher"]
    if "student" in comps:
        from irlens.models import load_bi_encoder
        from irlens.models.resolve import parse_pins

        model, _ = load_bi_encoder(a.student_model, a.local_dir or [], device=a.device, pins=parse_pins(a.pin))
        qtexts = list(dict.fromkeys(queries[q] for q, _, _ in tuples))
        qemb = np.asarray(model.encode(qtexts, batch_size=64, convert_to_numpy=True), dtype=np.float64)
        qrow = {x: i for i, x in enumerate(qtexts)}
        ids = list(dict.fromkeys(d for t in tuples for d in t[1:]))
        if a.corpus_emb:  # the student's cached corpus embeddings (as the check used): no re-encoding
            from irlens.retrieval.encode import load_embeddings

            c_emb, c_ids, _ = load_embeddings(a.corpus_emb)
            crow = {d: i for i, d in enumerate(c_ids)}
            missing = [d for d in ids if d not in crow]
            if missing:
                raise IrlensError(f"{a.corpus_emb}: no embedding of passage '{missing[0]}'; is it this dataset's?")
            demb = np.asarray(c_emb[[crow[d] for d in ids]], dtype=np.float64)
        else:
            demb = np.asarray(
                model.encode([doc_text(corpus[d]) for d in ids], batch_size=32, convert_to_numpy=True), dtype=np.float64
            )
        if check.get("score", "cos") == "cos":
            qemb /= np.maximum(np.linalg.norm(qemb, axis=1, keepdims=True), 1e-12)
            demb /= np.maximum(np.linalg.norm(demb, axis=1, keepdims=True), 1e-12)
        drow = {d: i for i, d in enumerate(ids)}
        for i, (q, p, n) in enumerate(tuples):
            e = qemb[qrow[queries[q]]]
            m = e @ demb[drow[p]] - e @ demb[drow[n]]
            out[i] += m / scale["student"]
    if "bm25" in comps:
        bm = BM25Scorer({d: doc_text(corpus[d]) for d in corpus}, **check["bm25"])
        out += np.array([bm.pair(queries[q], p) - bm.pair(queries[q], n) for q, p, n in tuples]) / scale["bm25"]
    log.info("ensemble teacher %s (scales %s of %s)", " + ".join(comps), scale, a.teacher_check)
    return out


# ------------------------------------------------------------------------------------ pseudo-labels
def cmd_pseudo_labels(a: argparse.Namespace) -> None:
    """``irlens gpl pseudo-labels``: teacher margins of sampled (query, positive, negative) tuples."""
    import time

    import numpy as np

    from irlens.data.beir import doc_text
    from irlens.gpl.labels import sample_tuples, write_training_data
    from irlens.gpl.negatives import read_hard_negatives

    set_threads(a.threads)
    if a.steps < 1 or a.batch < 1:
        raise IrlensError(f"gpl pseudo-labels: steps ({a.steps}) and batch ({a.batch}) must be >= 1")
    if a.require_stronger_teacher and not a.teacher_check:
        raise IrlensError(
            "gpl pseudo-labels: --require-stronger-teacher needs --teacher-check (its teacher-check.json)"
        )
    if a.teacher_check:
        from irlens.gpl.teacher_check import read_check, require_stronger, summary

        check = read_check(a.teacher_check)
        log.info("teacher check (%s): %s", a.teacher_check, summary(check))
        if a.require_stronger_teacher:
            require_stronger(check, a.teacher_check)
        elif check["teacher_stronger"] is not True:
            log.warning("the teacher is not stronger than the student: the GPL comparison is not a test of GPL")
    from irlens.gpl.teacher_check import check_components

    comps = check_components(a.ensemble)
    if comps:
        if not a.teacher_check:
            raise IrlensError("gpl pseudo-labels: --ensemble needs --teacher-check (the check measures its scales)")
        if check.get("ensemble") != comps:
            raise IrlensError(
                f"gpl pseudo-labels: --ensemble {' '.join(comps)} but {a.teacher_check} measured "
                f"{check.get('ensemble') or 'the cross-encoder alone'}; rerun the check with the same ensemble"
            )
        if "student" in comps and not a.student_model:
            raise IrlensError("gpl pseudo-labels: the ensemble's 'student' component needs --student-model")
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
    docs = {d: doc_text(corpus[d]) for _, p, n in tuples for d in (p, n)}
    t = time.time()
    if comps and "teacher" not in comps:
        margins = np.zeros(len(tuples))
    else:
        margins = _ce_margins(a, tuples, queries, docs)
    if comps:
        margins = _ensemble_margins(a, check, comps, margins, tuples, queries, corpus)
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
    from irlens.gpl.compare import comparison_table, teacher_notes
    from irlens.gpl.teacher_check import read_check
    from irlens.report.tables import write_table

    checks = {(dataset, label): read_check(path) for dataset, label, path in a.teacher_check or []}
    df = comparison_table([tuple(c) for c in a.compare], metrics=a.metrics, teacher_checks=checks or None)
    write_table(df, a.md, a.csv, title=a.title, footer=teacher_notes(checks))
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

    c = gs.add_parser(
        "teacher-check",
        help="teacher vs student nDCG@10 on held-out judged queries (student top-k reranked by the teacher)",
    )
    c.add_argument("--data", required=True, help="prepared dataset folder (corpus, queries, qrels/<split>.tsv)")
    c.add_argument("--dataset", help="dataset name recorded in the output (default: the folder's name)")
    c.add_argument(
        "--split", required=True, help="qrels split of the judged queries (never one the student is trained on)"
    )
    c.add_argument("--eval-split", help="the split the adapted model is evaluated on (recorded: is the check on it?)")
    c.add_argument("--corpus-emb", required=True, help="the student's corpus embeddings ('irlens retrieval encode')")
    c.add_argument("--query-emb", required=True, help="the student's query embeddings ('irlens retrieval encode')")
    c.add_argument("--student", help="label / id of the student recorded in the output")
    c.add_argument(
        "--score", choices=["cos", "dot"], default="cos", help="the student's similarity (models.<base>.score)"
    )
    c.add_argument("--teacher", required=True, help="HF id or folder of the teacher cross-encoder")
    c.add_argument("--queries", type=int, default=0, help="judged queries drawn with --seed (0: all)")
    c.add_argument("--depth", type=int, default=20, help="student top-k reranked by the teacher (>= 10)")
    c.add_argument("--ce-max-length", type=int, help="tokens of the scored pair (default: the teacher's limit, <= 512)")
    c.add_argument("--relevant-label", type=int, help="2-logit heads: index of 'relevant' (default 1)")
    c.add_argument("--seed", type=int, default=42, help="seed of the query sample")
    c.add_argument("--max-tokens", type=int, default=8192, help="padded tokens per teacher batch")
    c.add_argument("--max-batch", type=int, default=64, help="most pairs per teacher batch")
    c.add_argument(
        "--ensemble",
        nargs="*",
        default=[],
        choices=["teacher", "student", "bm25"],
        help="ensemble teacher: sum of these components' scores, each over its mean per-query std (none: --teacher)",
    )
    c.add_argument("--k1", type=float, default=0.9, help="ensemble bm25: k1 (Lucene BM25)")
    c.add_argument("--b", type=float, default=0.4, help="ensemble bm25: b")
    c.add_argument("--stemmer", default="english", help="ensemble bm25: Snowball stemmer or 'none'")
    c.add_argument("--out", required=True, help="teacher-check.json")
    common(c)
    c.set_defaults(func=cmd_teacher_check)

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
    p.add_argument("--teacher-check", help="teacher-check.json of 'irlens gpl teacher-check' (logged; see next flag)")
    p.add_argument(
        "--require-stronger-teacher",
        action="store_true",
        help="stop unless --teacher-check found the teacher stronger than the student (CI of the gain above 0)",
    )
    p.add_argument(
        "--ensemble",
        nargs="*",
        default=[],
        choices=["teacher", "student", "bm25"],
        help="ensemble teacher (as measured by --teacher-check): margins summed over these components, each over "
        "its scale from the check (none: --teacher alone)",
    )
    p.add_argument("--student-model", help="ensemble 'student': HF id or folder of the base bi-encoder")
    p.add_argument(
        "--corpus-emb", help="ensemble 'student': its corpus embeddings ('irlens retrieval encode'; else re-encoded)"
    )
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
    common(t)
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
    e.add_argument(
        "--teacher-check",
        nargs=3,
        action="append",
        metavar=("DATASET", "BASE_LABEL", "JSON"),
        help="teacher-check.json of that (dataset, base): teacher vs student columns and a note under the table",
    )
    e.add_argument("--md", required=True, help="output Markdown table")
    e.add_argument("--csv", required=True, help="output CSV table")
    e.set_defaults(func=cmd_evaluate)
