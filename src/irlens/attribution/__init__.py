"""Shared maths of the attribution stages (IG, NIG, ablation) — no stage logic here.

- :mod:`irlens.attribution.quadrature`: rules for ∫ g dα (IG) and Stieltjes rules for Σ g dy (NIG);
- :mod:`irlens.attribution.baselines`: the one baseline vocabulary and the subsets IG and NIG accept;
- :mod:`irlens.attribution.neurons`: the neuron layout of a transformer encoder (NIG and ablation).

The methods themselves live in their stages: :class:`irlens.ig.BiEncoderIG`, :class:`irlens.nig.CrossEncoderNIG`.
"""

from irlens.attribution.baselines import BASELINES, IG_BASELINES, NIG_BASELINES
from irlens.attribution.neurons import COMPONENTS, Neuron, neuron_layout, neuron_table
from irlens.attribution.quadrature import METHODS, STIELTJES_RULES, quadrature, stieltjes_window_matrix

__all__ = [
    "BASELINES",
    "COMPONENTS",
    "IG_BASELINES",
    "METHODS",
    "NIG_BASELINES",
    "STIELTJES_RULES",
    "Neuron",
    "neuron_layout",
    "neuron_table",
    "quadrature",
    "stieltjes_window_matrix",
]
