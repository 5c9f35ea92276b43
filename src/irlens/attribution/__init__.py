"""Attribution methods: quadrature rules, Integrated Gradients for bi-encoders, word-level merging."""

from irlens.attribution.bi_encoder import BASELINES, BiEncoderIG, TokenAttribution
from irlens.attribution.quadrature import METHODS, quadrature

__all__ = ["BASELINES", "METHODS", "BiEncoderIG", "TokenAttribution", "quadrature"]
