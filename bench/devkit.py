"""Shared helpers of the device benchmarks (bench/ig.py, bench/nig.py, bench/sae_step.py with ``--arch`` /
``--device``): randomly initialised models of the papers' architectures built from configs in code, a
WordPiece tokenizer over a vocabulary generated on the spot, synthetic texts of an exact token length, a
FLOP estimate and the GPU's peak throughput.

Speed does not depend on the weights, so the packaged MiniLM (which cannot travel to a GPU machine without
network) is replaced by random weights of the same shapes. Every word of a synthetic text is one vocabulary
entry (``w123``), so a text of ``n`` words is exactly ``n + 2`` tokens with [CLS] and [SEP].
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

ARCHS = ("minilm-l6", "distilbert", "bert-base", "bert-large")
N_WORDS = 4000  # synthetic vocabulary entries besides the specials
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

#: dense tensor-core peaks in TFLOP/s (vendor data sheets, no sparsity), keyed by a substring of
#: torch.cuda.get_device_name(); the first match wins (so "H100 PCIe" precedes "H100").
PEAK_TFLOPS = [
    ("H200", {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "tf32": 378.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0}),  # SXM / HBM3
    ("A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "tf32": 183.0, "fp32": 91.6}),
]


def hf_config(arch: str, num_labels: int | None = None):
    """The transformers config of ``arch`` (the published models' shapes), vocabulary 30,522 as theirs."""
    from transformers import BertConfig, DistilBertConfig

    extra = {"num_labels": num_labels} if num_labels else {}
    if arch == "minilm-l6":  # sentence-transformers/all-MiniLM-L6-v2
        return BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536, **extra)
    if arch == "distilbert":  # GPL's distilbert-base bi-encoders
        return DistilBertConfig(**extra)
    if arch == "bert-base":  # BGE-base
        return BertConfig(**extra)
    if arch == "bert-large":  # monoBERT-large
        return BertConfig(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, **extra
        )
    raise ValueError(f"--arch {arch}: choose one of {', '.join(ARCHS)}")


def make_tokenizer(folder: Path):
    """A BERT WordPiece tokenizer over [PAD] [UNK] [CLS] [SEP] [MASK] w0 … w{N_WORDS-1}, saved in ``folder``."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIALS + [f"w{i}" for i in range(N_WORDS)]) + "\n")
    tok = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=512)
    tok.save_pretrained(folder)
    return tok


def synthetic_text(rng: np.random.Generator, n_tokens: int) -> str:
    """Words that tokenise to exactly ``n_tokens`` tokens with [CLS] and [SEP] (``n_tokens - 2`` words)."""
    return " ".join(f"w{i}" for i in rng.integers(0, N_WORDS, size=max(1, n_tokens - 2)))


def synthetic_pairs(n: int, doc_tokens: int, query_tokens: int = 16, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "qid": f"q{k}",
            "did": f"d{k}",
            "query": synthetic_text(rng, query_tokens),
            "document": synthetic_text(rng, doc_tokens),
        }
        for k in range(n)
    ]


def randomise_biases(model, seed: int = 1) -> None:
    """Fresh BERTs have zero biases (the score barely moves along the path); give them values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))


def random_bi_encoder(arch: str, device: str, seed: int = 0, max_seq_length: int = 512):
    """A sentence-transformers bi-encoder (backbone, mean pooling, Normalize, as MiniLM) with random weights."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoModel

    folder = Path(tempfile.mkdtemp(prefix=f"bench-{arch}-"))
    make_tokenizer(folder)
    torch.manual_seed(seed)
    backbone = AutoModel.from_config(hf_config(arch))
    randomise_biases(backbone, seed + 1)
    backbone.save_pretrained(folder)
    word = Transformer(str(folder), max_seq_length=max_seq_length)
    pool = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pool, Normalize()], device=device)
    return model.eval(), folder


def random_cross_encoder(arch: str, device: str, seed: int = 0):
    """(AutoModelForSequenceClassification with 2 labels and random weights, tokenizer)."""
    from transformers import AutoModelForSequenceClassification

    folder = Path(tempfile.mkdtemp(prefix=f"bench-ce-{arch}-"))
    tok = make_tokenizer(folder)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(hf_config(arch, num_labels=2))
    randomise_biases(model, seed + 1)
    return model.to(device).float().eval(), tok


def encoder_params(model) -> int:
    """Parameters that take part in the per-token matrix products (embedding tables excluded)."""
    return int(sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n))


def fwd_bwd_flops(params: int, tokens: int, backward: bool = True) -> float:
    """~2·params·tokens per forward, ×3 with the backward (attention's L² terms left out)."""
    return (6.0 if backward else 2.0) * params * tokens


def device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def peak_tflops(device: str, dtype: str) -> float | None:
    """The device's dense peak for ``dtype`` (fp32 means TF32 when torch allows TF32 matmuls); None if unknown."""
    if torch.device(device).type != "cuda":
        return None
    name = device_name(device)
    key = dtype
    if dtype == "fp32" and torch.backends.cuda.matmul.allow_tf32:
        key = "tf32"
    for sub, peaks in PEAK_TFLOPS:
        if sub in name:
            return peaks[key]
    return None


def frac_peak(flops: float, seconds: float, device: str, dtype: str) -> dict:
    """Achieved TFLOP/s and the fraction of the peak (None where the peak is unknown)."""
    tf = flops / seconds / 1e12 if seconds > 0 else None
    peak = peak_tflops(device, dtype)
    return {"tflops": tf, "peak_tflops": peak, "frac_peak": (tf / peak if (tf is not None and peak) else None)}


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def autocast(device: str, dtype: str):
    """bf16 autocast on ``device`` for dtype bf16, a no-op context for fp32."""
    import contextlib

    if dtype == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fmt(x, spec: str = ".3g") -> str:
    return "null" if x is None else format(x, spec)
