"""Ablation of neurons (arXiv 2406.19309 §5.3): masks that zero chosen Linear output units, random
baselines in the same modules, statistics.

The names below are imported on first access (PEP 562), so ``irlens.ablation.stats`` (numpy and scipy only)
can be used where torch is not installed — the report env's Claims table does.
"""

import importlib

_EXPORTS = {
    "NeuronMask": "irlens.ablation.masks",
    "apply_mask": "irlens.ablation.masks",
    "apply_masks": "irlens.ablation.masks",
    "random_like": "irlens.ablation.masks",
    "paired_ttest": "irlens.ablation.stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the module that defines ``name`` on first access (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'irlens.ablation' has no attribute {name!r}")
