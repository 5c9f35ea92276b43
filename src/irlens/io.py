"""Small I/O helpers shared by every stage: atomic writes, JSONL, hashing, logging."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("irlens")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A killed or failing job therefore never leaves a valid-looking (half-written) output behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys sorted) atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or broken file is one :class:`~irlens.errors.IrlensError` line."""
    from irlens.errors import IrlensError

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise IrlensError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise IrlensError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); delete it and rerun") from None


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write ``records`` as JSON lines atomically; returns how many were written."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def hash_file(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file."""
    return hash_file(path, "sha256")


def md5_file(path: str | os.PathLike) -> str:
    """md5 hex digest of a file (BEIR publishes md5 sums of its archives)."""
    return hash_file(path, "md5")


def setup_logging(verbose: bool = False) -> None:
    """Timestamped INFO (DEBUG with ``verbose``) logging to stderr, as every job log shows it."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def read_parquet(path: str | os.PathLike, what: str, made_by: str = "the rule that makes it"):
    """``pandas.read_parquet(path)`` with one-line errors naming ``what`` the file is and what makes it."""
    import pandas as pd

    from irlens.errors import IrlensError

    if not Path(path).is_file():
        raise IrlensError(f"{path}: {what} not found; run {made_by} first")
    try:
        return pd.read_parquet(path)
    except Exception as e:
        raise IrlensError(f"{path}: not a readable parquet file ({type(e).__name__}); delete it and rerun") from None


def write_parquet(df, path: str | os.PathLike) -> None:
    """Write a DataFrame to parquet atomically (no index)."""
    with atomic_path(path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def write_npy(arr, path: str | os.PathLike) -> None:
    """Write a numpy array to ``.npy`` atomically."""
    import numpy as np

    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr)
