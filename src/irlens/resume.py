"""Resume after a kill: one folder spelling, ``<out>.partial/`` next to the output ``out``.

Every long step of irlens keeps what it has finished in ``partial_dir(out)`` and removes the folder once
``out`` is safely written (:func:`drop_partial`). Two kinds of state live there:

- **chunks** (:class:`Partial`): ``plan.json`` holds a key over everything the chunks depend on (inputs,
  settings, model), and each finished chunk is one file (JSON or ``.npy``) written atomically. A folder
  whose key differs is discarded. Chunk boundaries depend only on inputs and settings, so a resumed run
  gives exactly the output of an uninterrupted one. Used by dense encoding and GPL's query generation,
  negative mining and pseudo-labelling.
- **a training checkpoint** (:func:`load_checkpoint` / :func:`save_checkpoint`): ``checkpoint.pt`` with
  the weights, optimiser, schedule, torch RNG and a training log, valid for one configuration key. Used
  by the cross-encoder and GPL trainers; with a data order fixed by the seed, a resumed run ends with the
  weights of an uninterrupted run on CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from irlens.io import atomic_path, write_json

log = logging.getLogger(__name__)


def partial_dir(out: str | Path) -> Path:
    """``<out>.partial`` beside ``out`` (a file or a folder)."""
    out = Path(out)
    return out.parent / f"{out.name}.partial"


def drop_partial(out: str | Path) -> None:
    """Remove ``<out>.partial/`` once ``out`` is safely written."""
    shutil.rmtree(partial_dir(out), ignore_errors=True)


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
    """Chunk store in ``folder`` valid for one ``key``; :meth:`for_output` puts it at ``<out>.partial/``.

    ``load``/``save`` keep JSON-serialisable chunks, ``load_array``/``save_array`` numpy arrays; ``reused``
    counts the chunks a rerun found."""

    def __init__(self, folder: str | Path, key: str):
        self.dir = Path(folder)
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

    @classmethod
    def for_output(cls, out: str | Path, key: str) -> Partial:
        """The chunk store of the output ``out``: ``<out>.partial/``."""
        return cls(partial_dir(out), key)

    def load(self, name: str) -> Any | None:
        """The JSON chunk ``name``, or ``None`` if it is not there (or unreadable)."""
        f = self.dir / f"{name}.json"
        if not f.is_file():
            return None
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except ValueError:
            return None
        self.reused += 1
        return obj

    def save(self, name: str, obj: Any) -> None:
        """Write the JSON chunk ``name`` atomically."""
        with atomic_path(self.dir / f"{name}.json", suffix=".json") as tmp:
            tmp.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")

    def load_array(self, name: str):
        """The array chunk ``name`` (``.npy``), or ``None`` if it is not there (or unreadable)."""
        import numpy as np

        f = self.dir / f"{name}.npy"
        if not f.is_file():
            return None
        try:
            arr = np.load(f)
        except (OSError, ValueError):
            return None
        self.reused += 1
        return arr

    def save_array(self, name: str, arr) -> None:
        """Write the array chunk ``name`` (``.npy``) atomically."""
        import numpy as np

        with atomic_path(self.dir / f"{name}.npy", suffix=".npy") as tmp:
            np.save(tmp, arr)

    def remove(self) -> None:
        """Delete the folder (after the final output is in place)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def load_checkpoint(partial: Path, key: str, model, opt, sched, device, steps: int) -> tuple[int, list]:
    """``(step, log)`` of the checkpoint in ``partial`` (state restored into the objects), or ``(0, [])``.
    A checkpoint of another configuration is discarded.

    The file is read with ``torch.load(weights_only=True)``: tensors and plain Python data only, which is
    all :func:`save_checkpoint` writes. A file holding any other pickled object (which could run code when
    unpickled) is refused with one :class:`~irlens.errors.IrlensError` line, never executed."""
    import pickle

    import torch

    from irlens.errors import IrlensError

    ckpt = Path(partial) / "checkpoint.pt"
    if not ckpt.is_file():
        return 0, []
    try:
        state = torch.load(ckpt, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:
            raise IrlensError(
                f"{ckpt}: refused to load: it holds the pickled object {found.group(1)}, not only the tensors and "
                f"plain data irlens writes; delete {partial} and rerun (training restarts from step 0)"
            ) from None
        boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith(boilerplate)]
        why = (lines or [type(e).__name__])[0]
        raise IrlensError(f"{ckpt}: not a readable checkpoint ({why[:160]}); delete {partial} and rerun") from None
    if not isinstance(state, dict):
        raise IrlensError(f"{ckpt}: not an irlens checkpoint (a {type(state).__name__}); delete {partial} and rerun")
    if state.get("key") != key:
        log.info("discarding a checkpoint of another configuration in %s", partial)
        shutil.rmtree(partial)
        return 0, []
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"].cpu())  # map_location may have moved it; the CPU generator needs it here
    log.info("resumed from %s at step %d of %d", ckpt, int(state["step"]), steps)
    return int(state["step"]), list(state["log"])


def _plain(obj):
    """JSON fallback for numpy scalars and 0-d tensors (``.item()``) and anything else (``str``)."""
    return obj.item() if hasattr(obj, "item") else str(obj)


def save_checkpoint(partial: Path, key: str, step: int, log_rows: list, model, opt, sched) -> None:
    """Write the checkpoint atomically (a kill mid-write leaves the previous one)."""
    import torch

    partial = Path(partial)
    partial.mkdir(parents=True, exist_ok=True)
    state = {
        "key": key,
        "step": step,
        # plain Python data only (numpy scalars become numbers), so load_checkpoint's weights_only load reads it
        "log": json.loads(json.dumps(log_rows, default=_plain)),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_path(partial / "checkpoint.pt", suffix=".pt") as tmp:
        torch.save(state, tmp)
