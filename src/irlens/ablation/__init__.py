"""Ablation of neurons (arXiv 2406.19309 §5.3): masks that zero chosen Linear output units, random
baselines in the same modules, statistics."""

from irlens.ablation.masks import NeuronMask, apply_mask, apply_masks, random_like
from irlens.ablation.stats import paired_ttest

__all__ = ["NeuronMask", "apply_mask", "apply_masks", "paired_ttest", "random_like"]
