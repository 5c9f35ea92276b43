"""Resumable training state: ``<out>.partial/checkpoint.pt`` with the weights, optimiser, schedule, torch
RNG and a training log, valid for one configuration ``key`` (used by the cross-encoder and GPL trainers).

A rerun after a kill (``kill -9`` included) restores everything and, given a data order fixed by the seed,
ends with the weights of an uninterrupted run on CPU.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from irlens.io import atomic_path

log = logging.getLogger(__name__)


def partial_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.partial"


def resume(partial: Path, key: str, model, opt, sched, device, steps: int) -> tuple[int, list]:
    """``(step, log)`` of the checkpoint in ``partial`` (state restored into the objects), or ``(0, [])``.
    A checkpoint of another configuration is discarded."""
    import torch

    ckpt = partial / "checkpoint.pt"
    if not ckpt.is_file():
        return 0, []
    state = torch.load(ckpt, map_location=device, weights_only=False)
    if state.get("key") != key:
        log.info("discarding a checkpoint of another configuration in %s", partial)
        shutil.rmtree(partial)
        return 0, []
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    log.info("resumed from %s at step %d of %d", ckpt, int(state["step"]), steps)
    return int(state["step"]), list(state["log"])


def save(partial: Path, key: str, step: int, log_rows: list, model, opt, sched) -> None:
    """Write the checkpoint atomically (a kill mid-write leaves the previous one)."""
    import torch

    partial.mkdir(parents=True, exist_ok=True)
    with atomic_path(partial / "checkpoint.pt", suffix=".pt") as tmp:
        torch.save({"key": key, "step": step, "log": log_rows, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state()}, tmp)
