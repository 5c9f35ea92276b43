"""Sparse autoencoders over dense retrieval embeddings (arXiv 2411.00786).

* :mod:`irlens.sae.model` — :class:`TopKSAE` (tied init, unit-norm decoder, geometric-median pre-bias, AuxK)
* :mod:`irlens.sae.loss` — FVU, retrieval KL on reconstructed / latent scores, the anchor's loss
* :mod:`irlens.sae.train` — :class:`TrainConfig`, :func:`train_sae` on cached embeddings
* :mod:`irlens.sae.metrics`, :mod:`irlens.sae.retrieval` — FVU / L0 / dead %, dense vs reconstructed
  vs latent retrieval through an in-process sparse index
"""

from irlens.sae.model import SAEConfig, TopKSAE, geometric_median
from irlens.sae.train import TrainConfig, TrainData, build_train_data, save_model, train_sae

__all__ = [
    "SAEConfig",
    "TopKSAE",
    "TrainConfig",
    "TrainData",
    "build_train_data",
    "geometric_median",
    "save_model",
    "train_sae",
]
