"""Sparse autoencoders over dense retrieval embeddings (arXiv 2411.00786).

* :mod:`irlens.sae.config` — :class:`SAEConfig`, :class:`TrainConfig`, :data:`RECOMMENDED` (no torch import)
* :mod:`irlens.sae.model` — :class:`TopKSAE` (tied init, unit-norm decoder, geometric-median pre-bias, AuxK)
* :mod:`irlens.sae.loss` — FVU, retrieval KL on reconstructed / latent scores, the anchor's loss
* :mod:`irlens.sae.train` — :func:`train_sae` on cached embeddings
* :mod:`irlens.sae.metrics`, :mod:`irlens.sae.retrieval` — FVU / L0 / dead %, dense vs reconstructed
  vs latent retrieval through an in-process sparse index
* :mod:`irlens.sae.codes`, :mod:`irlens.sae.interpret`, :mod:`irlens.sae.n2g`, :mod:`irlens.sae.control`,
  :mod:`irlens.sae.report` — codes on disk, interpretation, control curves, tables and figures

The names below are imported lazily (on first use), so ``import irlens.sae.config`` stays free of torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SAEConfig": "irlens.sae.config",
    "TrainConfig": "irlens.sae.config",
    "RECOMMENDED": "irlens.sae.config",
    "TopKSAE": "irlens.sae.model",
    "geometric_median": "irlens.sae.model",
    "TrainData": "irlens.sae.train",
    "build_train_data": "irlens.sae.train",
    "save_model": "irlens.sae.train",
    "train_sae": "irlens.sae.train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import the module that defines ``name`` on first access (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'irlens.sae' has no attribute {name!r}")
