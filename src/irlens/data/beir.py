"""Readers and writers for the BEIR layout.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text", ...}``), ``queries.jsonl``
(``{"_id", "text", ...}``) and ``qrels/{split}.tsv`` (header ``query-id<TAB>corpus-id<TAB>score``).
Readers accept CRLF line endings (the official NFCorpus and SciFact qrels use them), cast every id
to ``str`` and every score to ``int``, and turn any malformed line into an :class:`IrlensError`
naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import atomic_path

Corpus = dict[str, dict[str, str]]  # doc id -> {"title": str, "text": str}
Queries = dict[str, str]  # query id -> text
Qrels = dict[str, dict[str, int]]  # query id -> {doc id -> grade}


@dataclass
class BeirDataset:
    """A dataset in memory: corpus, queries and one qrels dict per split."""

    corpus: Corpus
    queries: Queries
    qrels: dict[str, Qrels] = field(default_factory=dict)

    def split(self, name: str) -> tuple[Queries, Qrels]:
        """Queries judged in ``name`` (as BEIR's ``GenericDataLoader.load(split)``) and its qrels."""
        if name not in self.qrels:
            raise IrlensError(f"split '{name}' not available (have: {', '.join(sorted(self.qrels)) or 'none'})")
        qrels = self.qrels[name]
        return {q: self.queries[q] for q in qrels if q in self.queries}, qrels


def _iter_jsonl(path: Path):
    if not path.is_file():
        raise IrlensError(f"{path}: file not found")
    with open(path, encoding="utf-8", newline=None) as fh:  # newline=None: universal newlines (CRLF ok)
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise IrlensError(
                    f"{path}:{lineno}: malformed JSON ({e.msg}); the file is corrupt, re-fetch it"
                ) from None
            if not isinstance(rec, dict) or "_id" not in rec:
                raise IrlensError(f"{path}:{lineno}: expected a JSON object with an '_id' key")
            yield lineno, rec


def _read_records(path: Path, kind: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for lineno, rec in _iter_jsonl(path):
        rid = str(rec["_id"])
        if rid in out:
            raise IrlensError(f"{path}:{lineno}: duplicate {kind} id '{rid}'")
        if not isinstance(rec.get("text"), str):
            raise IrlensError(f"{path}:{lineno}: {kind} '{rid}' has no string 'text'")
        out[rid] = rec
    return out


def read_corpus(path: str | Path) -> Corpus:
    """``{doc_id: {"title", "text"}}`` of a BEIR ``corpus.jsonl`` (one-line errors name the file and line)."""
    recs = _read_records(Path(path), "document")
    return {d: {"title": str(r.get("title") or ""), "text": r["text"]} for d, r in recs.items()}


def read_queries(path: str | Path) -> Queries:
    """``{query_id: text}`` of a BEIR ``queries.jsonl``."""
    return {q: r["text"] for q, r in _read_records(Path(path), "query").items()}


def read_qrels(path: str | Path) -> Qrels:
    """Read a BEIR qrels TSV (header optional, CRLF tolerated). Also accepts TREC 4-column qrels."""
    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: file not found")
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline=None) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if lineno == 1 and parts[0] == "query-id":
                continue
            if len(parts) == 4:  # TREC format: qid iter docid rel
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise IrlensError(
                    f"{path}:{lineno}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(parts)}"
                )
            qid, did, score = parts
            try:
                grade = int(float(score))
            except ValueError:
                raise IrlensError(f"{path}:{lineno}: score '{score}' is not a number") from None
            qrels.setdefault(qid.strip(), {})[did.strip()] = grade
    return qrels


def available_splits(folder: str | Path) -> list[str]:
    """The qrels splits of a BEIR folder (``qrels/<split>.tsv``), sorted."""
    qdir = Path(folder) / "qrels"
    return sorted(p.stem for p in qdir.glob("*.tsv")) if qdir.is_dir() else []


def load_beir(folder: str | Path, splits: list[str] | None = None) -> BeirDataset:
    """Load a BEIR folder. ``splits`` defaults to every ``qrels/*.tsv`` present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IrlensError(f"{folder}: dataset folder not found")
    splits = available_splits(folder) if splits is None else splits
    qrels = {s: read_qrels(folder / "qrels" / f"{s}.tsv") for s in splits}
    return BeirDataset(read_corpus(folder / "corpus.jsonl"), read_queries(folder / "queries.jsonl"), qrels)


def write_beir(ds: BeirDataset, folder: str | Path) -> dict[str, str]:
    """Write ``ds`` in normalised BEIR layout (LF endings, string ids, header in qrels).

    Corpus and query records keep only ``_id``/``title``/``text`` (queries: ``_id``/``text``), in a
    stable order (input order). Each file is written atomically. Returns ``{relative path: path}``.
    """
    folder = Path(folder)
    written = {}

    def _jsonl(name, rows):
        p = folder / name
        with atomic_path(p) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        written[name] = str(p)

    _jsonl("corpus.jsonl", ({"_id": d, "title": v["title"], "text": v["text"]} for d, v in ds.corpus.items()))
    _jsonl("queries.jsonl", ({"_id": q, "text": t} for q, t in ds.queries.items()))
    for split, qrels in ds.qrels.items():
        name = f"qrels/{split}.tsv"
        p = folder / name
        with atomic_path(p) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in qrels.items():
                for did, grade in docs.items():
                    fh.write(f"{qid}\t{did}\t{grade}\n")
        written[name] = str(p)
    return written


def doc_text(doc: dict[str, str], sep: str = " ") -> str:
    """Title prepended to text, as BEIR's SentenceBERT/DRES does: ``(title + sep + text).strip()``."""
    title = doc.get("title") or ""
    return (title + sep + doc["text"]).strip() if title else doc["text"].strip()
