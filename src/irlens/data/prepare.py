"""The data stage: a dataset named in config becomes ``results/data/<dataset>/`` (normalised BEIR)."""

from __future__ import annotations

import logging
from pathlib import Path

from irlens.data.beir import BeirDataset, available_splits, load_beir, write_beir
from irlens.data.sources import download_beir, find_in_mirrors, load_ir_datasets, verify_sha256sums
from irlens.data.subsample import subsample as subsample_dataset
from irlens.errors import IrlensError
from irlens.io import sha256_file, write_json

log = logging.getLogger(__name__)


def prepare_dataset(
    name: str,
    out: str | Path,
    mirrors: list[str | Path] = (),
    download_dir: str | Path | None = None,
    irds_id: str | None = None,
    splits: list[str] | None = None,
    subsample: dict | None = None,
) -> dict:
    """Fetch, verify, normalise (and optionally subsample) dataset ``name`` into ``out``.

    Sources are tried in order: each folder of ``mirrors`` (``<mirror>/<name>/corpus.jsonl``,
    checked against ``SHA256SUMS`` when present); ``irds_id`` through ir_datasets when given;
    otherwise the official BEIR zip downloaded into ``download_dir`` (md5 checked).
    ``subsample`` = ``{"queries": int, "distractors": int, "seed": int}``.
    Returns the manifest written to ``out/manifest.json`` (written last: its presence means done).
    """
    out = Path(out)
    source: dict = {}
    folder = find_in_mirrors(name, list(mirrors))
    if folder is not None:
        checked = verify_sha256sums(folder.parent, name)
        source = {"kind": "mirror", "path": str(folder.resolve()), "sha256_verified_files": len(checked)}
        log.info("%s: local mirror %s (%d files sha256-verified)", name, folder, len(checked))
        ds = _load_splits(folder, name, splits)
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

    problems = _check_references(ds)
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


def _check_references(ds: BeirDataset) -> dict:
    """Count qrels rows whose query or document is absent (BEIR tolerates them; we report them)."""
    out = {}
    for split, qrels in ds.qrels.items():
        mq = sum(1 for q in qrels if q not in ds.queries)
        md = sum(1 for docs in qrels.values() for d in docs if d not in ds.corpus)
        if mq or md:
            log.warning("qrels/%s: %d queries and %d documents referenced but absent", split, mq, md)
            out[split] = {"missing_queries": mq, "missing_docs": md}
    return out
