"""Dense encoding with a sentence-transformers model: token-budget batches, resumable, cached.

Texts are tokenised once, ordered by token length (longest first) and packed into batches whose
padded size (rows × longest row) stays under ``max_tokens``; short texts therefore run in large
batches and padding is minimal. The sorted order is cut into fixed chunks; each finished chunk is
saved in ``<out>.partial/`` (:mod:`irlens.resume`), so a killed job resumes where it stopped.
Chunk boundaries and batches depend only on the texts and settings, so a resumed run yields exactly
the embeddings of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from irlens.io import atomic_path, write_json
from irlens.resume import Partial, drop_partial, partial_dir
from irlens.runtime import plan_batches

log = logging.getLogger(__name__)


def _token_lengths(model, texts: list[str]) -> np.ndarray:
    tok = model.tokenizer
    max_len = model.max_seq_length or tok.model_max_length
    enc = tok(
        texts,
        add_special_tokens=True,
        truncation=True,
        max_length=max_len,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(texts))


def encode_batch(model, texts: list[str]) -> np.ndarray:
    """Embeddings (float32) of one batch of ``texts``, as ``model.encode`` computes them."""
    import torch

    features = model.preprocess(texts)
    features = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in features.items()}
    with torch.inference_mode():
        out = model(features)
    return out["sentence_embedding"].float().cpu().numpy()


def encode_texts(
    model,
    texts: list[str],
    max_tokens: int = 16384,
    max_batch: int = 256,
    partial_dir: str | Path | None = None,
    chunk_batches: int = 8,
    progress: bool = True,
) -> np.ndarray:
    """Encode ``texts`` with a loaded sentence-transformers ``model``; returns ``float32 [n, dim]``.

    With ``partial_dir``, finished chunks of ``chunk_batches`` batches are kept there so a rerun after
    a kill resumes; the caller removes the folder once the result is safely written.
    """
    from tqdm import tqdm

    n = len(texts)
    dim = model.get_embedding_dimension()
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    lengths = _token_lengths(model, texts)
    order, batches = plan_batches(lengths, max_tokens, max_batch)
    chunks = [batches[i : i + chunk_batches] for i in range(0, len(batches), chunk_batches)]

    part = None
    if partial_dir:
        key = hashlib.sha256()
        key.update(json.dumps([max_tokens, max_batch, chunk_batches, model.max_seq_length, dim, len(chunks)]).encode())
        for t in texts:
            key.update(t.encode("utf-8") + b"\0")
        key.update(_model_fingerprint(model).encode())
        part = Partial(partial_dir, key.hexdigest())

    out = np.empty((n, dim), dtype=np.float32)
    done_rows = 0
    bar = tqdm(total=n, desc="encode", unit="text", disable=not progress, mininterval=5)
    for ci, chunk in enumerate(chunks):
        lo, hi = chunk[0][0], chunk[-1][1]
        idx = order[lo:hi]
        emb = part.load_array(f"chunk-{ci:05d}") if part is not None else None
        if emb is None:
            emb = np.concatenate([encode_batch(model, [texts[i] for i in order[s:e]]) for s, e in chunk])
            if part is not None:
                part.save_array(f"chunk-{ci:05d}", emb)
        out[idx] = emb
        done_rows += hi - lo
        bar.update(hi - lo)
    bar.close()
    if part is not None and part.reused:
        log.info("resumed: %d of %d chunks reused from %s", part.reused, len(chunks), part.dir)
    return out


def _model_fingerprint(model) -> str:
    """Cheap fingerprint of the weights: shapes plus a few values of every parameter."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        flat = p.detach().reshape(-1)
        h.update(name.encode() + str(tuple(p.shape)).encode())
        h.update(flat[:: max(1, flat.numel() // 16)].float().cpu().numpy().tobytes())
    return h.hexdigest()


def encode_to_file(model, ids: list[str], texts: list[str], out: str | Path, meta: dict, **kw) -> dict:
    """Encode and write ``out`` (``.npy``, float32) plus ``out`` with ``.json`` suffix (ids + meta).

    ``<out>.partial/`` makes the job resumable; it is removed after success.
    """
    out = Path(out)
    partial = partial_dir(out)
    t0 = time.perf_counter()
    emb = encode_texts(model, texts, partial_dir=partial, **kw)
    seconds = time.perf_counter() - t0
    norms = np.linalg.norm(emb, axis=1) if len(emb) else np.zeros(0)
    info = {
        **meta,
        "n": int(emb.shape[0]),
        "dim": int(emb.shape[1]),
        "dtype": "float32",
        "seconds": round(seconds, 3),
        "max_seq_length": model.max_seq_length,
        "norm_min": float(norms.min()) if len(norms) else None,
        "norm_max": float(norms.max()) if len(norms) else None,
        "ids": list(ids),
    }
    with atomic_path(out, suffix=".npy") as tmp:
        np.save(tmp, emb)
    write_json(out.with_suffix(".json"), info)
    drop_partial(out)
    log.info(
        "encoded %d texts in %.1fs (%.1f texts/s) -> %s", len(texts), seconds, len(texts) / max(seconds, 1e-9), out
    )
    return info


def load_embeddings(path: str | Path) -> tuple[np.ndarray, list[str], dict]:
    """Load ``path`` (``.npy``) and its ``.json`` sidecar; returns ``(matrix, ids, meta)``."""
    from irlens.errors import IrlensError
    from irlens.io import read_json

    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: embeddings not found; run 'irlens retrieval encode' (the encode rule) first")
    if not path.with_suffix(".json").is_file():
        raise IrlensError(
            f"{path.with_suffix('.json')}: not found, the ids of {path} ('irlens retrieval encode' writes both); "
            "check the path or rerun it"
        )
    meta = read_json(path.with_suffix(".json"))
    if not isinstance(meta, dict) or not isinstance(meta.get("ids"), list):
        raise IrlensError(
            f"{path.with_suffix('.json')}: not the sidecar of 'irlens retrieval encode' (no 'ids' list); "
            "delete it and the .npy and rerun"
        )
    try:
        emb = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise IrlensError(f"{path}: cannot read embeddings ({e}); delete it and rerun") from None
    if emb.ndim != 2 or emb.dtype.kind not in "fiu":
        raise IrlensError(
            f"{path}: expected a 2-d numeric matrix of embeddings, got shape {emb.shape} of {emb.dtype}; "
            "delete it and rerun"
        )
    ids = meta.pop("ids")
    if emb.shape[0] != len(ids):
        raise IrlensError(
            f"{path}: {emb.shape[0]} rows but {len(ids)} ids in {path.with_suffix('.json')}; delete both and rerun"
        )
    return np.asarray(emb), ids, meta
