"""``<out>.partial/``: finished chunks of a long step, kept so a killed job resumes where it stopped.

The folder holds ``plan.json`` (a key over everything the chunks depend on) and one JSON file per
finished chunk, each written atomically. A folder whose key differs (other inputs or settings) is
discarded. Callers remove the folder once the final output is safely in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from irlens.io import atomic_path, write_json

log = logging.getLogger(__name__)


def fingerprint(*parts: Any) -> str:
    """sha256 over JSON-serialisable ``parts`` (dict keys sorted)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def digest(items) -> str:
    """sha256 over an iterable of strings (or tuples of strings), streamed: large inputs are never joined."""
    h = hashlib.sha256()
    for it in items:
        h.update(("\t".join(it) if isinstance(it, (tuple, list)) else str(it)).encode("utf-8") + b"\n")
    return h.hexdigest()


class Partial:
    """Chunk store next to ``out`` (``<out>.partial/``), valid for one ``key``."""

    def __init__(self, out: str | Path, key: str):
        out = Path(out)
        self.dir = out.parent / f"{out.name}.partial"
        plan = {"key": key}
        plan_file = self.dir / "plan.json"
        if self.dir.exists():
            try:
                same = json.loads(plan_file.read_text()) == plan
            except (OSError, ValueError):
                same = False
            if not same:
                log.info("discarding partial results of other inputs or settings in %s", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not plan_file.is_file():
            write_json(plan_file, plan)
        self.reused = 0

    def _file(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def load(self, name: str) -> Any | None:
        f = self._file(name)
        if not f.is_file():
            return None
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except ValueError:
            return None
        self.reused += 1
        return obj

    def save(self, name: str, obj: Any) -> None:
        with atomic_path(self._file(name), suffix=".json") as tmp:
            tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
