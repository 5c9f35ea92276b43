"""Small I/O helpers shared by every stage: atomic writes, JSONL, hashing, logging."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("irlens")

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read at call time (never cached: a caller may change it between writes).

    On Linux it is read from ``/proc/self/status`` (``Umask:`` line), which changes nothing and is
    therefore thread-safe. Elsewhere it falls back to ``os.umask(0)`` followed at once by restoring
    the old value, under a lock; another thread creating a file in that instant (outside irlens'
    helpers) could get permissive bits, a window of a few microseconds that only those systems have.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """Permission bits a plain ``open(path, "w")`` (``0o666``) or ``os.mkdir`` (``0o777``, with
    ``directory``) would give a new file under the current umask.

    :func:`tempfile.mkstemp` and :func:`tempfile.mkdtemp` create ``0o600``/``0o700`` whatever the
    umask, so every output renamed from a temporary is chmod-ed to this first (colleagues on shared
    storage read the outputs as they read any other file the user makes).
    """
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A killed or failing job therefore never leaves a valid-looking (half-written) output behind. A ``path``
    that is a folder is an :class:`~irlens.errors.IrlensError` (an output flag given a folder).
    """
    path = Path(path)
    if path.is_dir():
        from irlens.errors import IrlensError

        raise IrlensError(f"{path}: is a folder, but a file goes there; give the output a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, default_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` (a folder) only if the block succeeds.

    The folder and everything in it get the permissions ``os.mkdir``/``open`` would give them under
    the current umask (not :func:`tempfile.mkdtemp`'s ``0o700``, nor the ``0o600`` some writers such as
    ``safetensors`` give their files; executable bits a file has are kept, less the umask). An existing
    ``path`` is renamed aside first and removed after the swap, so a kill leaves either the old folder
    or the new one, plus at most a hidden leftover.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        from irlens.errors import IrlensError

        raise IrlensError(f"{path}: is a file, but a folder goes there; give the output a folder path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    try:
        yield tmp
        mask = current_umask()
        for root, _, files in os.walk(tmp):
            for name in files:
                f = os.path.join(root, name)
                if not os.path.islink(f):
                    os.chmod(f, (0o666 | (os.stat(f).st_mode & 0o111)) & ~mask)
            os.chmod(root, 0o777 & ~mask)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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


def read_parquet(
    path: str | os.PathLike, what: str, made_by: str = "the rule that makes it", columns: Iterable[str] = ()
):
    """``pandas.read_parquet(path)`` with one-line errors naming ``what`` the file is and what makes it;
    a table without one of ``columns`` is the wrong file (an error too, not a ``KeyError`` later)."""
    import pandas as pd

    from irlens.errors import IrlensError

    if not Path(path).is_file():
        raise IrlensError(f"{path}: {what} not found; run {made_by} first")
    try:
        df = pd.read_parquet(path)
    except Exception as e:
        raise IrlensError(f"{path}: not a readable parquet file ({type(e).__name__}); delete it and rerun") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise IrlensError(
            f"{path}: no column(s) {', '.join(missing)}, so not the {what} expected here; check the path, or rerun "
            f"{made_by}"
        )
    return df


def read_npy(path: str | os.PathLike, what: str, made_by: str = "the rule that makes it"):
    """``numpy.load(path)`` (no pickles) with one-line errors naming ``what`` the file is and what makes it."""
    import numpy as np

    from irlens.errors import IrlensError

    if not Path(path).is_file():
        raise IrlensError(f"{path}: {what} not found; run {made_by} first")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise IrlensError(f"{path}: not a readable .npy file ({type(e).__name__}); delete it and rerun") from None
    if not isinstance(arr, np.ndarray):
        raise IrlensError(f"{path}: an .npz archive, expected the .npy {what}; check the path")
    return arr


def write_parquet(df, path: str | os.PathLike) -> None:
    """Write a DataFrame to parquet atomically (no index)."""
    with atomic_path(path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def write_npy(arr, path: str | os.PathLike) -> None:
    """Write a numpy array to ``.npy`` atomically."""
    import numpy as np

    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr)
