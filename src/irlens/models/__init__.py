"""Model resolution (HF id → verified local folder or hub snapshot) and loading."""

from irlens.models.cross_encoder import CrossEncoder, load_cross_encoder
from irlens.models.encoder import load_bi_encoder
from irlens.models.resolve import KNOWN_LOCAL, ResolvedModel, resolve_model

__all__ = ["KNOWN_LOCAL", "CrossEncoder", "ResolvedModel", "load_bi_encoder", "load_cross_encoder", "resolve_model"]
