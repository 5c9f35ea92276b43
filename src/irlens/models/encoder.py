"""Loading bi-encoders (sentence-transformers folders) resolved by :mod:`irlens.models.resolve`."""

from __future__ import annotations

import logging
import os

from irlens.errors import IrlensError
from irlens.models.resolve import ResolvedModel, resolve_model

log = logging.getLogger(__name__)


def pick_device(device: str | None = None) -> str:
    """``auto``/None → ``cuda`` when available, else ``cpu``."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_bi_encoder(model_id: str, local_dirs=(), device: str | None = None, max_seq_length: int | None = None):
    """Load a sentence-transformers bi-encoder by HF id or folder. Returns ``(model, ResolvedModel)``.

    HF checkpoints without a sentence-transformers config get mean pooling (what sentence-transformers
    does by default). ``max_seq_length`` overrides the model's own limit when given.
    """
    resolved: ResolvedModel = resolve_model(model_id, local_dirs)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolved.path, device=pick_device(device), local_files_only=True)
    except Exception as e:
        raise IrlensError(
            f"model '{model_id}' at {resolved.path}: cannot be loaded as a sentence-transformers model "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from None
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    model.eval()
    log.info(
        "loaded %s from %s (%s, weights sha256 %s, max_seq_length %s)",
        model_id,
        resolved.path,
        resolved.source,
        (resolved.sha256 or "?")[:12],
        model.max_seq_length,
    )
    return model, resolved
