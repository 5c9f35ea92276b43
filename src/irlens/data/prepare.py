"""The data stage: a dataset named in config becomes ``results/data/<dataset>/`` (normalised BEIR)."""

from __future__ import annotations

import logging
from pathlib import Path

from irlens.data.beir import BeirDataset, available_splits, load_beir, write_beir
from irlens.data.sources import BEIR_COUNTS, download_beir, find_in_mirrors, load_ir_datasets, verify_sha256sums
from irlens.data.subsample import subsample as subsample_dataset
from irlens.errors import IrlensError
from irlens.io import sha256_file, write_json

log = logging.getLogger(__name__)

EMPTY_TEXTS = ("error", "drop")
DANGLING_QRELS = ("error", "keep")
_SHOW = 5  # ids named in an error message
_RECORD = 100  # ids recorded in manifest.json


def prepare_dataset(
    name: str,
    out: str | Path,
    mirrors: list[str | Path] = (),
    download_dir: str | Path | None = None,
    irds_id: str | None = None,
    splits: list[str] | None = None,
    subsample: dict | None = None,
    empty_texts: str = "error",
    dangling_qrels: str = "error",
) -> dict:
    """Fetch, verify, normalise (and optionally subsample) dataset ``name`` into ``out``.

    Sources are tried in order: each folder of ``mirrors`` (``<mirror>/<name>/corpus.jsonl``,
    checked against ``SHA256SUMS`` when present); ``irds_id`` through ir_datasets when given;
    otherwise the official BEIR zip downloaded into ``download_dir`` (md5 checked).
    ``subsample`` = ``{"queries": int, "distractors": int, "seed": int}``.

    Checks, in this order, before subsampling: the corpus, query and qrels counts of a dataset BEIR publishes
    (:data:`~irlens.data.sources.BEIR_COUNTS`, mirror and download only); queries and documents (title and text)
    that are empty or whitespace only (``empty_texts``: ``"error"``, or ``"drop"`` them with their qrels rows,
    counted in the manifest); qrels rows of a kept split naming a query or document absent from
    queries/corpus (``dangling_qrels``: ``"error"``, or ``"keep"`` them as BEIR does, with a warning).
    Returns the manifest written to ``out/manifest.json`` (written last: its presence means done).
    """
    out = Path(out)
    if empty_texts not in EMPTY_TEXTS:
        raise IrlensError(f"data.empty_texts must be one of {EMPTY_TEXTS}, got {empty_texts!r}")
    if dangling_qrels not in DANGLING_QRELS:
        raise IrlensError(f"data.dangling_qrels must be one of {DANGLING_QRELS}, got {dangling_qrels!r}")
    source: dict = {}
    where = None  # the dataset folder the data were read from (None: ir_datasets)
    folder = find_in_mirrors(name, list(mirrors))
    if folder is not None:
        checked = verify_sha256sums(folder.parent, name)
        source = {"kind": "mirror", "path": str(folder.resolve()), "sha256_verified_files": len(checked)}
        log.info("%s: local mirror %s (%d files sha256-verified)", name, folder, len(checked))
        ds = _load_splits(folder, name, splits)
        where = folder
    elif irds_id:
        log.info("%s: loading through ir_datasets id %s", name, irds_id)
        corpus, queries, qrels = load_ir_datasets(irds_id)
        ds = BeirDataset(corpus, queries, qrels)
        source = {"kind": "ir_datasets", "id": irds_id}
    else:
        if download_dir is None:
            raise IrlensError(
                f"dataset '{name}': not found in any mirror {list(map(str, mirrors))} and no download dir given"
            )
        folder = download_beir(name, download_dir)
        source = {"kind": "beir-download", "path": str(folder.resolve())}
        ds = _load_splits(folder, name, splits)
        where = folder

    def label(rel: str) -> str:
        return str(where / rel) if where is not None else f"ir_datasets '{irds_id}' {rel.removesuffix('.jsonl')}"

    if where is not None:
        _check_counts(ds, name, where)
    dropped = _empty_texts(ds, empty_texts, label)
    problems = _check_references(ds, dangling_qrels, label)
    if subsample:
        ds = subsample_dataset(
            ds, int(subsample["queries"]), int(subsample.get("distractors", 0)), int(subsample.get("seed", 0))
        )
        log.info("%s: subsampled to %d docs, %d queries", name, len(ds.corpus), len(ds.queries))
    written = write_beir(ds, out)
    manifest = {
        "dataset": name,
        "source": source,
        "subsample": subsample or None,
        "counts": {
            "corpus": len(ds.corpus),
            "queries": len(ds.queries),
            **{f"qrels/{s}": {"queries": len(q), "rows": sum(map(len, q.values()))} for s, q in ds.qrels.items()},
        },
        "dropped": dropped,
        "dangling_qrels": problems,
        "sha256": {rel: sha256_file(p) for rel, p in sorted(written.items())},
    }
    write_json(out / "manifest.json", manifest)
    return manifest


def _load_splits(folder: Path, name: str, splits: list[str] | None) -> BeirDataset:
    have = available_splits(folder)
    want = have if splits is None else list(splits)
    missing = [s for s in want if s not in have]
    if missing:
        raise IrlensError(
            f"{folder}/qrels: no split(s) {missing} for '{name}' (have {have}); fix config key datasets.{name}.splits"
        )
    return load_beir(folder, want)


def _first(ids) -> str:
    ids = list(ids)
    more = f", … ({len(ids)} in all)" if len(ids) > _SHOW else ""
    return ", ".join(ids[:_SHOW]) + more


def _check_counts(ds: BeirDataset, name: str, folder: Path) -> None:
    """A dataset BEIR publishes must have its published size (a mirror cut at a line boundary parses fine)."""
    expected = BEIR_COUNTS.get(name)
    if not expected:
        return
    have = {"corpus.jsonl": len(ds.corpus), "queries.jsonl": len(ds.queries)}
    have |= {f"qrels/{s}.tsv": sum(map(len, q.values())) for s, q in ds.qrels.items()}
    wrong = [
        f"{folder / rel}: {n} records, BEIR has {expected[rel]}" for rel, n in have.items() if n != expected.get(rel, n)
    ]
    if wrong:
        raise IrlensError(
            f"{'; '.join(wrong)} (official BEIR '{name}'); the files are truncated or edited — restore the mirror "
            f"(or re-download the dataset); a deliberately changed copy needs its own dataset name (folder and "
            f"datasets.<name>)"
        )


def _empty_texts(ds: BeirDataset, mode: str, label) -> dict:
    """Reject (``error``) or drop (``drop``) queries and documents without text; return what was dropped."""
    queries = [q for q, t in ds.queries.items() if not t.strip()]
    docs = [d for d, v in ds.corpus.items() if not (v["title"].strip() or v["text"].strip())]
    dropped = {"empty_queries": len(queries), "empty_documents": len(docs)}
    if not (queries or docs):
        return dropped
    if mode == "error":
        what = []
        if queries:
            what.append(
                f"{label('queries.jsonl')}: {len(queries)} empty or whitespace-only queries ({_first(queries)})"
            )
        if docs:
            what.append(
                f"{label('corpus.jsonl')}: {len(docs)} documents with empty or whitespace-only title and text "
                f"({_first(docs)})"
            )
        raise IrlensError(
            f"{'; '.join(what)}; fix the files, or set config key data.empty_texts: drop (CLI --empty-texts drop) "
            f"to drop them and their qrels rows"
        )
    gone_q, gone_d = set(queries), set(docs)
    rows = {}
    for split, qrels in ds.qrels.items():
        before = sum(map(len, qrels.values()))
        kept = {q: {d: g for d, g in docs_.items() if d not in gone_d} for q, docs_ in qrels.items() if q not in gone_q}
        ds.qrels[split] = {q: docs_ for q, docs_ in kept.items() if docs_}
        rows[split] = before - sum(map(len, ds.qrels[split].values()))
    ds.queries = {q: t for q, t in ds.queries.items() if q not in gone_q}
    ds.corpus = {d: v for d, v in ds.corpus.items() if d not in gone_d}
    log.warning(
        "dropped %d empty queries, %d empty documents and their qrels rows %s (data.empty_texts: drop)",
        len(queries),
        len(docs),
        rows,
    )
    return dropped | {
        "qrels_rows": rows,
        "query_ids": queries[:_RECORD],
        "document_ids": docs[:_RECORD],
    }


def _check_references(ds: BeirDataset, mode: str, label) -> dict:
    """Qrels rows whose query or document is absent: an error, or (``keep``) counted and kept as BEIR does."""
    out, what = {}, []
    for split, qrels in ds.qrels.items():
        mq = [q for q in qrels if q not in ds.queries]
        md = list(dict.fromkeys(d for docs in qrels.values() for d in docs if d not in ds.corpus))
        if not (mq or md):
            continue
        rows = sum(1 for q, docs in qrels.items() for d in docs if q not in ds.queries or d not in ds.corpus)
        out[split] = {"missing_queries": len(mq), "missing_docs": len(md), "rows": rows}
        parts = [f"{len(md)} document ids absent from {label('corpus.jsonl')} ({_first(md)})"] if md else []
        parts += [f"{len(mq)} query ids absent from {label('queries.jsonl')} ({_first(mq)})"] if mq else []
        what.append(f"{label(f'qrels/{split}.tsv')}: {rows} rows reference {' and '.join(parts)}")
    if what and mode == "error":
        raise IrlensError(
            f"{'; '.join(what)}; the mirror looks truncated or mixed from different releases — restore it "
            f"(re-download, or check it against SHA256SUMS); if these qrels knowingly reference ids outside the "
            f"files (as BEIR's ArguAna does), set config key data.dangling_qrels: keep (CLI --dangling-qrels keep)"
        )
    for line in what:
        log.warning("%s (kept: data.dangling_qrels: keep)", line)
    return out
