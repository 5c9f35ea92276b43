"""Loading bi-encoders (sentence-transformers folders) resolved by :mod:`irlens.models.resolve`."""

from __future__ import annotations

import logging
import os

from irlens.errors import IrlensError
from irlens.models.resolve import ResolvedModel, resolve_model

log = logging.getLogger(__name__)


TF32_ENV = "IRLENS_TF32"


def tf32_enabled() -> bool:
    """Whether ``$IRLENS_TF32`` allows TF32 (``1``/``true``/``yes``/``on``; unset, empty or ``0``/``false``/
    ``no``/``off``: not allowed, the default). Any other value is an :class:`~irlens.errors.IrlensError`."""
    raw = os.environ.get(TF32_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise IrlensError(f"${TF32_ENV}={os.environ[TF32_ENV]!r}: expected 1/0 (or true/false, yes/no, on/off)")


def configure_tf32() -> bool:
    """Set PyTorch's TF32 switches for float32 matmuls and cuDNN from ``$IRLENS_TF32`` (default off); returns
    the value set. Called by :func:`pick_device` whenever it resolves to a CUDA device, so every stage follows
    the one switch. Off by default because attribution checks completeness in float32 (TF32 keeps a 10-bit
    mantissa in matmuls, ~1e-3 relative error) and the CUDA results are compared with CPU ones; TF32 only
    changes anything on Ampere or newer GPUs, never on the CPU."""
    import torch

    on = tf32_enabled()
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    return on


def pick_device(device: str | None = None) -> str:
    """``auto``/None → ``cuda`` when available, else ``cpu``; any other value is checked (a CUDA device this
    machine lacks is an :class:`~irlens.errors.IrlensError`, not an assertion deep inside torch). A CUDA
    result also applies the TF32 switch (:func:`configure_tf32`)."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            configure_tf32()
            return "cuda"
        return "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise IrlensError(f"--device '{device}': not a torch device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise IrlensError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise IrlensError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 ...); "
                "use one of them, or auto"
            )
        configure_tf32()
    return device


def load_bi_encoder(
    model_id: str, local_dirs=(), device: str | None = None, max_seq_length: int | None = None, pins=None
):
    """Load a sentence-transformers bi-encoder by HF id or folder. Returns ``(model, ResolvedModel)``.

    HF checkpoints without a sentence-transformers config get mean pooling (what sentence-transformers
    does by default). ``max_seq_length`` overrides the model's own limit when given. ``pins``
    (``{id: weights sha256}``) is enforced by :func:`~irlens.models.resolve.resolve_model`.
    """
    resolved: ResolvedModel = resolve_model(model_id, local_dirs, pins=pins)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = pick_device(device)
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolved.path, device=device, local_files_only=True)
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
