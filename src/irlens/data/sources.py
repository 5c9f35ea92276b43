"""Where a BEIR dataset comes from: local mirrors (verified by SHA256SUMS), the official BEIR zip
(verified by BEIR's published md5), or an ``ir_datasets`` id."""

from __future__ import annotations

import logging
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import atomic_path, md5_file, sha256_file

log = logging.getLogger(__name__)

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"

#: md5 of each official BEIR zip, as published in the BEIR README ("Available Datasets").
BEIR_MD5 = {
    "msmarco": "444067daf65d982533ea17ebd59501e4",
    "trec-covid": "ce62140cb23feb9becf6270d0d1fe6d1",
    "nfcorpus": "a89dba18a62ef92f7d323ec890a0d38d",
    "nq": "d4d3d2e48787a744b6f6e691ff534307",
    "hotpotqa": "f412724f78b0d91183a0e86805e16114",
    "fiqa": "17918ed23cd04fb15047f73e6c3bd9d9",
    "arguana": "8ad3e3c2a5867cdced806d6503f29b99",
    "webis-touche2020": "46f650ba5a527fc69e0a6521c5a23563",
    "cqadupstack": "4e41456d7df8ee7760a7f866133bda78",
    "quora": "18fb154900ba42a600f84b839c173167",
    "dbpedia-entity": "c2a39eb420a3164af735795df012ac2c",
    "scidocs": "38121350fc3a4d2f48850f6aff52e4a9",
    "fever": "5a818580227bfb4b35bb6fa46d9b6c03",
    "climate-fever": "8b66f0a9126c521bae2bde127b4dc99d",
    "scifact": "5f7d1de60b170fc8027bb7898e2efca1",
}

#: Records of official BEIR files (corpus/queries lines, qrels rows), checked for a mirror or download of that name:
#: a file cut at a line boundary still parses, so without SHA256SUMS only its size gives it away. Only datasets whose
#: full files were counted are listed (SciFact: the BEIR release; NFCorpus: the official zip, md5 above).
BEIR_COUNTS = {
    "scifact": {"corpus.jsonl": 5183, "queries.jsonl": 1109, "qrels/test.tsv": 339, "qrels/train.tsv": 919},
    "nfcorpus": {
        "corpus.jsonl": 3633,
        "queries.jsonl": 3237,
        "qrels/test.tsv": 12334,
        "qrels/dev.tsv": 11385,
        "qrels/train.tsv": 110575,
    },
}


def verify_sha256sums(mirror: Path, dataset: str) -> list[str]:
    """Check every file of ``dataset`` listed in ``mirror/SHA256SUMS``; return the files checked.

    Looks for ``mirror/SHA256SUMS`` (paths like ``scifact/corpus.jsonl``) and
    ``mirror/<dataset>/SHA256SUMS`` (paths relative to the dataset folder).
    """
    checked = []
    for sums, base in ((mirror / "SHA256SUMS", mirror), (mirror / dataset / "SHA256SUMS", mirror / dataset)):
        if not sums.is_file():
            continue
        for lineno, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise IrlensError(f"{sums}:{lineno}: expected '<sha256>  <path>'")
            digest, rel = parts[0].lower(), parts[1].strip().lstrip("*")
            full = base / rel
            if base == mirror and not rel.startswith(f"{dataset}/"):
                continue
            if not full.is_file():
                raise IrlensError(f"{full}: listed in {sums} but missing; restore the file or re-fetch the dataset")
            actual = sha256_file(full)
            if actual != digest:
                raise IrlensError(
                    f"{full}: sha256 mismatch (expected {digest[:12]}…, got {actual[:12]}…); the file is corrupt or "
                    f"edited — restore it, or remove this mirror from config key data.mirrors"
                )
            checked.append(str(full))
    return checked


def find_in_mirrors(dataset: str, mirrors: list[str | Path]) -> Path | None:
    """First mirror holding ``<mirror>/<dataset>/corpus.jsonl``."""
    for m in mirrors:
        folder = Path(m) / dataset
        if (folder / "corpus.jsonl").is_file():
            return folder
        log.debug("mirror %s: no %s", m, dataset)
    return None


def download_beir(dataset: str, dest_root: str | Path, url: str | None = None, timeout: float = 60) -> Path:
    """Download and extract the official BEIR zip into ``dest_root/<dataset>`` after an md5 check."""
    dest_root = Path(dest_root)
    url = url or BEIR_URL.format(name=dataset)
    zpath = dest_root / f"{dataset}.zip"
    if not zpath.is_file():
        log.info("downloading %s", url)
        try:
            with atomic_path(zpath) as tmp, urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh, 1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise IrlensError(
                f"dataset '{dataset}': not in any local mirror and the download of {url} failed ({e}); "
                f"put a BEIR folder at {dest_root}/{dataset}/ or add its parent to config key data.mirrors"
            ) from None
    expected = BEIR_MD5.get(dataset)
    actual = md5_file(zpath)
    if expected and actual != expected:
        zpath.unlink()
        raise IrlensError(
            f"{zpath}: md5 {actual} differs from BEIR's published {expected}; removed it, rerun to download again"
        )
    if not expected:
        log.warning("%s: no published md5 known for '%s'; not verified (md5 %s)", zpath, dataset, actual)
    with zipfile.ZipFile(zpath) as zf:
        for member in zf.namelist():  # refuse path traversal
            if member.startswith("/") or ".." in Path(member).parts:
                raise IrlensError(f"{zpath}: unsafe path in archive: {member}")
        tmpdir = dest_root / f".{dataset}.extract"
        shutil.rmtree(tmpdir, ignore_errors=True)
        zf.extractall(tmpdir)
    inner = tmpdir / dataset if (tmpdir / dataset).is_dir() else tmpdir
    final = dest_root / dataset
    shutil.rmtree(final, ignore_errors=True)
    inner.rename(final)
    shutil.rmtree(tmpdir, ignore_errors=True)
    return final


def load_ir_datasets(irds_id: str):
    """Load a dataset through ``ir_datasets`` (optional dependency, ``pip install irlens[irds]``).

    ``irds_id`` names the corpus and one split, e.g. ``beir/scifact/test``; returns
    ``(corpus, queries, {split: qrels})``.
    """
    try:
        import ir_datasets
    except ImportError:
        raise IrlensError(
            f"ir_datasets id '{irds_id}' given but ir_datasets is not installed: pip install 'irlens[irds]'"
        ) from None
    try:
        ds = ir_datasets.load(irds_id)
    except KeyError:
        raise IrlensError(f"ir_datasets has no dataset '{irds_id}'") from None
    corpus = {str(d.doc_id): {"title": getattr(d, "title", "") or "", "text": d.text} for d in ds.docs_iter()}
    queries = {str(q.query_id): q.text for q in ds.queries_iter()}
    qrels: dict[str, dict[str, int]] = {}
    for r in ds.qrels_iter():
        qrels.setdefault(str(r.query_id), {})[str(r.doc_id)] = int(r.relevance)
    split = irds_id.rsplit("/", 1)[-1]
    return corpus, queries, {split: qrels}
