"""irlens TopK SAEs in the SAELens format (``sae-lens`` 6.x, ``SAE.load_from_disk``), both ways.

A SAELens SAE folder holds ``cfg.json`` (the fields of SAELens's ``TopKSAEConfig``, ``"architecture": "topk"``
and a free-form ``metadata`` mapping), ``sae_weights.safetensors`` (``W_enc [d_in, d_sae]``, ``W_dec [d_sae,
d_in]``, ``b_enc [d_sae]``, ``b_dec [d_in]``) and, optionally, ``sparsity.safetensors`` (key ``"sparsity"``:
``log10`` of each latent's firing frequency, ``+ 1e-10`` as SAELens's trainer adds). SAELens's ``TopKSAE`` computes::

    encode(x) = TopK_k(ReLU after top-k)((x − b_dec · apply_b_dec_to_input) @ W_enc + b_enc)
    decode(z) = z @ W_dec + b_dec

with ``normalize_activations "none"`` and ``rescale_acts_by_decoder_norm False``. irlens's
:class:`~irlens.sae.model.TopKSAE` computes ``z = ReLU(TopK_k(W_enc (x − b_pre) + b_enc))`` and
``x̂ = W_dec z + b_pre``: the same maths with ``b_dec = b_pre``, ``apply_b_dec_to_input True`` and the weight
matrices transposed (irlens keeps ``W_enc [L, d]``, ``W_dec [d, L]``; a tied model's encoder is ``W_decᵀ``).
Both apply the ReLU to the ``k`` values top-k keeps, and neither normalises its input inside the SAE (irlens
feeds it the cached embeddings as they are). Export is exact (transposes only); import folds SAELens's
``rescale_acts_by_decoder_norm`` and ``apply_b_dec_to_input False`` into the weights (the same outputs up to
float rounding). What irlens cannot carry over is an error: SAELens's input normalisations and ``hook_z``
reshaping on import, and on export the inference-time IHT refinement of a model with ``refine_steps > 0``
(SAELens only has the encoder; ``encoder_codes=True`` exports it anyway, the codes irlens trains with).

Reading a folder (:func:`load_saelens`) needs only ``safetensors``, not ``sae_lens``; the format follows
``sae_lens`` :data:`SAELENS_VERSION` (``sae_lens/saes/topk_sae.py``, ``saes/sae.py``,
``loading/pretrained_sae_loaders.py``), and ``tests/sae/test_saelens.py`` loads the exports with that package.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from irlens.errors import IrlensError
from irlens.io import atomic_dir
from irlens.sae.config import SAEConfig
from irlens.sae.model import CONFIG_FILE as IRLENS_CONFIG_FILE
from irlens.sae.model import FORMAT, TopKSAE

SAELENS_VERSION = "6.54.12"  # the sae_lens release whose format this module writes (cfg metadata sae_lens_version)
CFG_FILE = "cfg.json"  # sae_lens.constants.SAE_CFG_FILENAME
WEIGHTS_FILE = "sae_weights.safetensors"  # SAE_WEIGHTS_FILENAME
SPARSITY_FILE = "sparsity.safetensors"  # SPARSITY_FILENAME
SPARSITY_KEY = "sparsity"  # the tensor's key in it (sae_lens_huggingface_loader, LanguageModelSAETrainingRunner)
SPARSITY_EPS = 1e-10  # log10(frequency + eps), as sae_lens.training.sae_trainer._log_feature_sparsity
HOOK_NAME = "sentence_embedding"  # not a TransformerLens hook: the SAE reads a bi-encoder's sentence embeddings
WEIGHT_KEYS = ("W_enc", "W_dec", "b_enc", "b_dec")
_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def firing_frequencies(model: TopKSAE, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``[L]`` share of the rows of ``x [n, d]`` on which each latent fires (``z_i > 0``) with the encoder's
    codes (``refine_steps`` 0, the codes SAELens computes): what SAELens calls a latent's feature sparsity."""
    if x.ndim != 2 or x.shape[1] != model.cfg.d_model or len(x) == 0:
        raise IrlensError(f"firing frequencies need a non-empty [n, {model.cfg.d_model}] matrix, got {x.shape}")
    counts = np.zeros(model.cfg.n_latents, np.int64)
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            v, i = model.encode_topk(torch.from_numpy(np.array(x[s : s + chunk], dtype=np.float32)), refine_steps=0)
            counts += np.bincount(i[v > 0].numpy(), minlength=model.cfg.n_latents)
    return counts / len(x)


def saelens_metadata(meta: dict, source: str | None = None) -> dict:
    """SAELens ``metadata`` for the model whose irlens ``config.json`` record is ``meta`` (what
    :meth:`TopKSAE.load` returns): ``model_name`` = the bi-encoder id of its training embeddings (when
    one), ``hook_name`` = ``"sentence_embedding:<that id>"``, and the irlens training record (without the
    per-epoch history) under ``"irlens"``."""
    parts = (meta.get("data") or {}).get("parts") or []
    models = sorted({p["model"] for p in parts if isinstance(p, dict) and p.get("model")})
    record = {k: v for k, v in meta.items() if k not in ("format", "sae", "history")}
    if source is not None:
        record["source"] = str(source)
    out: dict = {"irlens": record}
    if len(models) == 1:
        out["model_name"] = models[0]
        out["hook_name"] = f"{HOOK_NAME}:{models[0]}"
    elif models:
        record["embedding_models"] = models
    return out


def _guard(folder: Path, own_file: str, what: str) -> None:
    """Refuse to replace an existing non-empty folder that is not ``what`` (has no ``own_file``)."""
    if folder.is_dir() and any(folder.iterdir()) and not (folder / own_file).is_file():
        raise IrlensError(f"{folder}: a non-empty folder without {own_file}, not {what}; refusing to replace it")


def export_saelens(
    model: TopKSAE,
    folder: str | Path,
    extra_metadata: dict | None = None,
    frequencies: np.ndarray | None = None,
    frequency_source: str | None = None,
    encoder_codes: bool = False,
) -> Path:
    """Write ``model`` as a SAELens ``topk`` SAE folder (``cfg.json``, ``sae_weights.safetensors`` and, given
    ``frequencies``, ``sparsity.safetensors``), atomically; returns the folder.

    ``frequencies``: ``[L]`` firing frequencies (:func:`firing_frequencies`; ``frequency_source`` says over
    what), written as SAELens's log10 sparsity. Without them no sparsity file is written (irlens records no
    per-latent frequencies with a model; SAELens treats the file as optional) and the metadata says so.
    ``extra_metadata`` is merged into cfg ``metadata`` (e.g. :func:`saelens_metadata`); its ``"irlens"``
    mapping joins the irlens record, whose ``"sae"`` (the :class:`SAEConfig`) :func:`load_saelens` restores.
    ``encoder_codes``: export a model with ``refine_steps > 0`` (SAELens then computes the encoder's codes).
    """
    from safetensors.torch import save_file

    cfg = model.cfg
    if cfg.refine_steps > 0 and not encoder_codes:
        raise IrlensError(
            f"the SAE refines its codes with {cfg.refine_steps} IHT steps at inference, which SAELens cannot "
            f"express; export with encoder_codes (CLI --encoder-codes) to get its encoder (irlens --refine-steps 0)"
        )
    dtype = model.W_dec.dtype
    if dtype not in _DTYPES:
        raise IrlensError(f"SAE weights of dtype {dtype}: SAELens stores only {', '.join(_DTYPES.values())}")
    folder = Path(folder)
    _guard(folder, CFG_FILE, "a SAELens SAE folder")
    w_dec = model.W_dec.detach().cpu()  # [d, L]
    w_enc_rows = model._enc_rows().detach().cpu()  # [L, d]
    tensors = {
        "W_enc": w_enc_rows.T.contiguous(),  # [d_in, d_sae]
        "W_dec": w_dec.T.contiguous(),  # [d_sae, d_in]
        "b_enc": model.b_enc.detach().cpu().contiguous(),  # [d_sae]
        "b_dec": model.b_pre.detach().cpu().contiguous(),  # [d_in]: subtracted before encoding, added after decoding
    }
    log_sparsity = None
    sparsity = {"file": None, "why": "no firing frequencies given (irlens records none with a model)"}
    if frequencies is not None:
        f = np.asarray(frequencies, dtype=np.float64)
        if f.shape != (cfg.n_latents,) or not np.all(np.isfinite(f)) or f.min() < 0 or f.max() > 1:
            raise IrlensError(f"firing frequencies must be {cfg.n_latents} shares in [0, 1], got shape {f.shape}")
        log_sparsity = torch.from_numpy(np.log10(f + SPARSITY_EPS).astype(np.float32))
        sparsity = {
            "file": SPARSITY_FILE,
            "key": SPARSITY_KEY,
            "value": f"log10(firing frequency + {SPARSITY_EPS:g}) per latent",
            "codes": "encoder (refine_steps 0)",
            "rows": frequency_source,
        }
    extra = dict(extra_metadata or {})
    record = dict(extra.pop("irlens", None) or {})
    record.update(
        {
            "format": FORMAT,
            "sae": asdict(cfg),
            "sparsity": sparsity,
            "codes": "encoder"
            if cfg.refine_steps == 0
            else f"encoder (the irlens model refines its codes with {cfg.refine_steps} IHT steps; SAELens does not)",
        }
    )
    metadata = {
        "sae_lens_version": SAELENS_VERSION,  # >= 6: SAELens reads the config as is (no pre-6.0 conversion)
        "sae_lens_training_version": None,  # trained by irlens, not by SAELens
        "model_name": None,
        "hook_name": HOOK_NAME,
        "hook_head_index": None,
        **extra,
        "irlens": record,
    }
    sae_cfg = {
        "architecture": "topk",
        "d_in": cfg.d_model,
        "d_sae": cfg.n_latents,
        "k": cfg.k,
        "dtype": _DTYPES[dtype],
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "rescale_acts_by_decoder_norm": False,
        "metadata": metadata,
    }
    with atomic_dir(folder, suffix="") as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if log_sparsity is not None:
            save_file({SPARSITY_KEY: log_sparsity}, str(tmp / SPARSITY_FILE), metadata={"format": "pt"})
        (tmp / CFG_FILE).write_text(json.dumps(sae_cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def read_saelens(folder: str | Path) -> tuple[TopKSAE, dict, list[str]]:
    """``(model, cfg, folded)``: the SAELens ``topk`` SAE in ``folder`` as an irlens :class:`TopKSAE` (eval mode,
    float32), its ``cfg.json`` and the SAELens options folded into the weights (``rescale_acts_by_decoder_norm``,
    ``apply_b_dec_to_input`` false: the same outputs up to float rounding). Needs no ``sae_lens``. The irlens
    settings SAELens has no field for (``aux_k``, ``dead_after``, ``tied``, ``refine_*``) come from
    ``metadata.irlens.sae`` when an irlens export wrote it, else are the defaults; ``tied`` only when the
    encoder still equals ``W_decᵀ``. A folder that is not a TopK SAELens SAE, or has wrong shapes, is one
    :class:`IrlensError` line."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise IrlensError(f"{folder}: SAELens SAE folder not found")
    cfg_path, w_path = folder / CFG_FILE, folder / WEIGHTS_FILE
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise IrlensError(f"{p}: not found, so {folder} is not a SAELens SAE folder ({CFG_FILE} + {WEIGHTS_FILE})")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IrlensError(f"{cfg_path}: not a JSON SAELens config ({type(e).__name__})") from None
    if not isinstance(cfg, dict):
        raise IrlensError(f"{cfg_path}: not a SAELens config (a JSON mapping)")
    arch = cfg.get("architecture")
    if arch is None:
        raise IrlensError(
            f"{cfg_path}: no 'architecture' (a SAELens < 6 config?); load it with SAELens 6 and save_model() it again"
        )
    if arch != "topk":
        raise IrlensError(f"{cfg_path}: architecture '{arch}', not 'topk'; irlens reads only TopK SAEs")
    norm = cfg.get("normalize_activations") or "none"
    if norm != "none":
        raise IrlensError(
            f"{cfg_path}: normalize_activations '{norm}' (input normalisation), which irlens's TopKSAE cannot express"
        )
    reshape = cfg.get("reshape_activations") or "none"
    if reshape != "none":
        raise IrlensError(f"{cfg_path}: reshape_activations '{reshape}', which irlens's TopKSAE cannot express")
    dims = {key: cfg.get(key) for key in ("d_in", "d_sae", "k")}
    bad = [f"{key}={v!r}" for key, v in dims.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
    if bad:
        raise IrlensError(f"{cfg_path}: {', '.join(bad)}; d_in, d_sae and k must be positive integers")
    d, L, k = dims["d_in"], dims["d_sae"], dims["k"]
    flags = {
        key: cfg.get(key, default)
        for key, default in (("apply_b_dec_to_input", True), ("rescale_acts_by_decoder_norm", False))
    }
    for key, v in flags.items():
        if not isinstance(v, bool):
            raise IrlensError(f"{cfg_path}: {key}={v!r}, expected true or false")
    try:
        state = load_file(str(w_path))
    except Exception as e:  # safetensors raises its own types for corrupt files
        raise IrlensError(f"{w_path}: cannot read SAE weights ({type(e).__name__})") from None
    sf = state.pop("scaling_factor", None)  # SAELens drops an all-ones one on load; any other it cannot load as topk
    if sf is not None and not torch.all(sf == 1):
        raise IrlensError(f"{w_path}: a finetuning scaling_factor other than 1, which irlens's TopKSAE cannot express")
    keys = sorted(state)
    if keys != sorted(WEIGHT_KEYS):
        raise IrlensError(
            f"{w_path}: tensors {', '.join(keys) or 'none'}; a SAELens TopK SAE has exactly {', '.join(WEIGHT_KEYS)}"
        )
    shapes = {"W_enc": (d, L), "W_dec": (L, d), "b_enc": (L,), "b_dec": (d,)}
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {s})" for key, s in shapes.items() if tuple(state[key].shape) != s
    ]
    if wrong:
        raise IrlensError(f"{w_path}: {'; '.join(wrong)} for d_in={d}, d_sae={L} in {CFG_FILE}")
    w = {key: state[key].to(torch.float32) for key in WEIGHT_KEYS}
    if not all(bool(torch.isfinite(t).all()) for t in w.values()):
        raise IrlensError(f"{w_path}: non-finite weights (NaN or inf)")
    W_enc, W_dec, b_enc, b_dec = w["W_enc"], w["W_dec"], w["b_enc"], w["b_dec"]  # [d, L], [L, d], [L], [d]
    folded = []
    if flags["rescale_acts_by_decoder_norm"]:  # a = ((x − b) W_enc + b_enc)·n, x̂ = (z / n) W_dec + b_dec
        n = torch.linalg.vector_norm(W_dec, dim=1).clamp_min(1e-8)  # as SAE.get_W_dec_norm
        W_enc, b_enc, W_dec = W_enc * n, b_enc * n, W_dec / n[:, None]
        folded.append("rescale_acts_by_decoder_norm")
    if not flags["apply_b_dec_to_input"]:  # x W_enc + b_enc = (x − b_dec) W_enc + (b_enc + b_dec W_enc)
        b_enc = b_enc + b_dec @ W_enc
        folded.append("apply_b_dec_to_input false")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    record = meta.get("irlens") if isinstance(meta.get("irlens"), dict) else {}
    known = {f.name for f in fields(SAEConfig)}
    given = {key: v for key, v in (record.get("sae") or {}).items() if key in known}
    given.update(d_model=d, n_latents=L, k=k)
    given["tied"] = bool(given.get("tied")) and not folded and torch.equal(W_enc, W_dec.T)
    try:
        scfg = SAEConfig(**given)
    except (IrlensError, TypeError) as e:
        raise IrlensError(f"{cfg_path}: {e}") from None
    model = TopKSAE(scfg)
    sd = {"b_pre": b_dec, "b_enc": b_enc, "W_dec": W_dec.T.contiguous(), "since_fired": model.since_fired}
    if not scfg.tied:
        sd["W_enc"] = W_enc.T.contiguous()
    model.load_state_dict(sd)
    model.eval()
    return model, cfg, folded


def load_saelens(folder: str | Path) -> TopKSAE:
    """The SAELens TopK SAE in ``folder`` as an irlens :class:`TopKSAE` (:func:`read_saelens`)."""
    return read_saelens(folder)[0]


def import_saelens(folder: str | Path, out: str | Path) -> TopKSAE:
    """Read the SAELens TopK SAE in ``folder`` and save it as an irlens model folder ``out`` (atomically).

    Its ``config.json`` keeps the irlens training record an irlens export carried (``metadata.irlens``) and
    notes the source under ``"saelens"``; the AuxK counters (``since_fired``, training state) start at 0."""
    folder, out = Path(folder), Path(out)
    model, cfg, folded = read_saelens(folder)
    if out.resolve() == folder.resolve():
        raise IrlensError(f"{out}: the SAELens folder itself; give the irlens model another folder")
    _guard(out, IRLENS_CONFIG_FILE, "an irlens SAE model folder")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    record = meta.get("irlens") if isinstance(meta.get("irlens"), dict) else {}
    extra = {key: v for key, v in record.items() if key not in ("format", "sae", "sparsity", "codes")}
    extra["saelens"] = {
        "folder": str(folder),
        "architecture": cfg.get("architecture"),
        "model_name": meta.get("model_name"),
        "hook_name": meta.get("hook_name"),
        "sae_lens_version": meta.get("sae_lens_version"),
        "folded": folded,
    }
    with atomic_dir(out, suffix="") as tmp:
        model.save(tmp, extra=extra)
    return model


def log10_sparsity(folder: str | Path) -> torch.Tensor | None:
    """The ``[d_sae]`` log10 firing frequencies in ``folder``'s ``sparsity.safetensors``; ``None`` without one."""
    from safetensors import safe_open

    p = Path(folder) / SPARSITY_FILE
    if not p.is_file():
        return None
    try:
        with safe_open(str(p), framework="pt") as f:
            return f.get_tensor(SPARSITY_KEY)
    except Exception as e:
        raise IrlensError(f"{p}: no readable '{SPARSITY_KEY}' tensor ({type(e).__name__})") from None
