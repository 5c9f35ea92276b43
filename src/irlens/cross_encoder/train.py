"""Fine-tuning a cross-encoder reranker on a BEIR training split (the cross-encoder stage).

Training (:func:`train_cross_encoder`)
    A BERT backbone (by default the MiniLM of ``sentence-transformers/all-MiniLM-L6-v2``) gets a fresh
    2-logit head (index 0 = non-relevant, 1 = relevant, as monoBERT). Hard negatives are the BM25 top
    ``negatives_depth`` documents of each training query minus every document judged for it. Positives
    are the documents judged with the query's highest grade (``top_grade_positives``; NFCorpus: direct
    over indirect links), else every document judged >= 1. A step draws ``batch_size`` triples
    (query, positive, hard negative) and trains on the
    ``2 × batch_size`` pairs ``(q, pos) → 1``, ``(q, neg) → 0`` with cross-entropy over the two logits;
    AdamW (``head_lr`` for the fresh classifier and the pooler feeding it, ``lr`` for the encoder), linear
    warm-up over ``warmup × steps`` then linear decay to 0, gradient norm clipped at 1.
    The whole sampling plan is drawn up front from ``seed`` (queries cycle through seeded
    permutations), dropout draws from the seeded torch generator, so one configuration gives identical
    weights on CPU. With ``checkpoint_every`` the state (weights, optimiser, schedule, RNG) is saved in
    ``<out>.partial/`` and a rerun after a kill resumes and ends with the weights of an uninterrupted
    run. The result is a ``save_pretrained`` folder (model + tokenizer + ``training.json``) written
    to a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError
from irlens.io import atomic_dir, write_json
from irlens.resume import load_checkpoint, partial_dir, save_checkpoint

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ training
def hard_negatives(
    doc_ids: list[str],
    doc_texts: list[str],
    qids: list[str],
    query_texts: list[str],
    qrels: dict,
    depth: int,
    threads: int = 1,
) -> dict[str, list[str]]:
    """BM25 top-``depth`` of each query (score > 0) minus every document judged for it (any grade)."""
    from irlens.retrieval.bm25 import bm25_search

    scores, idx = bm25_search(doc_texts, query_texts, depth, threads=threads)
    out = {}
    for qi, q in enumerate(qids):
        judged = qrels.get(q, {})
        out[q] = [doc_ids[j] for s, j in zip(scores[qi], idx[qi]) if j >= 0 and s > 0 and doc_ids[j] not in judged]
    return out


def sample_plan(
    qids: list[str],
    positives: dict[str, list[str]],
    negatives: dict[str, list[str]],
    steps: int,
    batch_size: int,
    seed: int,
) -> list[list[tuple[str, str, str]]]:
    """``steps`` batches of ``(qid, positive, negative)``; queries cycle through seeded permutations."""
    rng = np.random.default_rng(seed)
    plan, perm, pos = [], [], 0
    for _ in range(steps):
        batch = []
        for _ in range(batch_size):
            if pos >= len(perm):
                perm, pos = list(rng.permutation(len(qids))), 0
            q = qids[perm[pos]]
            pos += 1
            p = positives[q][int(rng.integers(len(positives[q])))]
            n = negatives[q][int(rng.integers(len(negatives[q])))]
            batch.append((q, p, n))
        plan.append(batch)
    return plan


def _head_names(model) -> set[str]:
    """Parameters of the classification head: the classifier and, for BERT, the pooler feeding it."""
    return {
        n
        for n, _ in model.named_parameters()
        if n.startswith(("classifier", "pre_classifier")) or ".pooler." in f".{n}"
    }


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _lr_lambda(steps: int, warmup_steps: int):
    def f(step: int) -> float:  # step = number of optimiser steps taken so far
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (steps - step) / max(1, steps - warmup_steps))

    return f


def train_cross_encoder(
    base_model_id: str,
    dataset_folder: str | Path,
    split: str,
    out_dir: str | Path,
    steps: int = 100,
    batch_size: int = 16,
    max_length: int = 128,
    lr: float = 5e-5,
    warmup: float = 0.1,
    head_lr: float | None = None,
    negatives_depth: int = 30,
    seed: int = 42,
    local_dirs=(),
    top_grade_positives: bool = True,
    threads: int | None = None,
    device: str | None = "auto",
    log_every: int = 10,
    checkpoint_every: int = 0,
    weight_decay: float = 0.01,
    progress: bool = True,
    on_step=None,
    pins: dict[str, str] | None = None,
) -> dict:
    """Fine-tune ``base_model_id`` with a 2-logit head (see the module docstring); returns the training record.

    ``on_step(step, loss)`` is called after every optimiser step (tests use it to simulate a kill).
    """
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from irlens.data.beir import doc_text, load_beir
    from irlens.models.cross_encoder import CrossEncoder, forward_takes
    from irlens.models.encoder import pick_device
    from irlens.models.resolve import resolve_model

    if steps < 1 or batch_size < 1:
        raise IrlensError(f"cross-encoder train: steps ({steps}) and batch size ({batch_size}) must be >= 1")
    t0 = time.time()
    out_dir = Path(out_dir)
    if threads:
        torch.set_num_threads(int(threads))
    dev = pick_device(device)

    # ---- data: positives, BM25 hard negatives, sampling plan (all before the model loads)
    ds = load_beir(dataset_folder, [split])
    queries, qrels = ds.split(split)
    doc_ids = list(ds.corpus)
    texts = {d: doc_text(v) for d, v in ds.corpus.items()}
    positives = {}
    for q in queries:
        graded = {d: g for d, g in qrels[q].items() if g >= 1 and d in texts}
        top = max(graded.values(), default=0)
        positives[q] = [d for d, g in graded.items() if g == top or not top_grade_positives]
    cand = [q for q in queries if positives[q]]
    if not cand:
        raise IrlensError(
            f"{dataset_folder}: no query of split '{split}' has a judged relevant document in the corpus; "
            "nothing to train on"
        )
    negatives = hard_negatives(
        doc_ids,
        [texts[d] for d in doc_ids],
        cand,
        [queries[q] for q in cand],
        qrels,
        negatives_depth,
        threads=threads or 1,
    )
    qids = [q for q in cand if negatives[q]]
    if not qids:
        raise IrlensError(
            f"{dataset_folder}: BM25 top-{negatives_depth} holds no unjudged document for any training query; "
            "raise negatives_depth"
        )
    plan = sample_plan(qids, positives, negatives, steps, batch_size, seed)
    log.info(
        "training data %s/%s: %d queries with positives and hard negatives "
        "(%d positives, %d negatives from BM25 top-%d); %d steps x %d triples",
        dataset_folder,
        split,
        len(qids),
        sum(len(positives[q]) for q in qids),
        sum(len(negatives[q]) for q in qids),
        negatives_depth,
        steps,
        batch_size,
    )

    # ---- model
    resolved = resolve_model(base_model_id, local_dirs, pins=pins)
    _seed_everything(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            resolved.path,
            local_files_only=True,
            num_labels=2,
            id2label={0: "non-relevant", 1: "relevant"},
            label2id={"non-relevant": 0, "relevant": 1},
        )
    except Exception as e:
        msg = (str(e).splitlines() or [""])[0][:200]
        raise IrlensError(
            f"model '{base_model_id}' at {resolved.path}: cannot be loaded as a backbone for sequence classification "
            f"({type(e).__name__}: {msg})"
        ) from None
    loaded = set(_state_keys_on_disk(resolved.path))
    fresh = sorted(k for k in model.state_dict() if loaded and k not in loaded and not _same_modulo_prefix(k, loaded))
    log.info(
        "base %s from %s (%s, weights sha256 %s); newly initialised: %s",
        base_model_id,
        resolved.path,
        resolved.source,
        (resolved.sha256 or "?")[:12],
        ", ".join(fresh) or "(none reported)",
    )
    model.to(dev)
    types = "token_type_ids" in tokenizer.model_input_names and forward_takes(model, "token_type_ids")
    ce = CrossEncoder(model, tokenizer, 2, 1, int(max_length), dev, base_model_id, types)

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    head = _head_names(model)
    groups = []
    for is_head in (False, True):
        for decay in (True, False):
            ps = [
                p
                for n, p in model.named_parameters()
                if (n in head) == is_head and any(n.endswith(s) for s in no_decay) != decay
            ]
            if ps:
                groups.append(
                    {
                        "params": ps,
                        "weight_decay": weight_decay if decay else 0.0,
                        "lr": (head_lr or lr) if is_head else lr,
                    }
                )
    opt = torch.optim.AdamW(groups, lr=lr, fused=True)  # one kernel per step: 4x faster than the per-tensor loop on CPU
    warmup_steps = int(round(warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(steps, warmup_steps))

    config = {
        "base_model": base_model_id,
        "base_sha256": resolved.sha256,
        "dataset": str(dataset_folder),
        "split": split,
        "steps": steps,
        "batch_size": batch_size,
        "pairs_per_step": 2 * batch_size,
        "max_length": int(max_length),
        "lr": lr,
        "head_lr": head_lr,
        "warmup": warmup,
        "warmup_steps": warmup_steps,
        "weight_decay": weight_decay,
        "negatives_depth": negatives_depth,
        "top_grade_positives": top_grade_positives,
        "seed": seed,
        "device": dev,
        "threads": torch.get_num_threads(),
    }
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()

    # ---- resume
    partial = partial_dir(out_dir)
    start, losses = load_checkpoint(partial, key, model, opt, sched, dev, steps) if checkpoint_every else (0, [])

    # ---- train
    model.train()
    t_train = time.time()
    bar = tqdm(total=steps, initial=start, desc="train", unit="step", mininterval=5, disable=not progress)
    for step in range(start, steps):
        batch = plan[step]
        qs = [queries[q] for q, _, _ in batch]
        feats = ce.features(qs + qs, [texts[p] for _, p, _ in batch] + [texts[n] for _, _, n in batch])
        labels = torch.tensor([1] * len(batch) + [0] * len(batch), device=dev)
        loss = torch.nn.functional.cross_entropy(ce.logits(feats), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        bar.update(1)
        done = step + 1
        if log_every and (done % log_every == 0 or done == steps):
            window = losses[-log_every:]
            log.info(
                "step %d/%d: loss %.4f (mean of last %d), lr %.2e, %.2f s/step",
                done,
                steps,
                float(np.mean(window)),
                len(window),
                sched.get_last_lr()[0],
                (time.time() - t_train) / (done - start),
            )
        if checkpoint_every and done % checkpoint_every == 0 and done < steps:
            save_checkpoint(partial, key, done, losses, model, opt, sched)
        if on_step is not None:
            on_step(done, losses[-1])
    bar.close()
    train_s = time.time() - t_train
    model.eval()

    record = {
        "config": config,
        "losses": losses,
        "loss_first": losses[0] if losses else None,
        "loss_last_mean": float(np.mean(losses[-max(1, log_every) :])) if losses else None,
        "train_queries": len(qids),
        "newly_initialised": fresh,
        "seconds_train": round(train_s, 2),
        "seconds_total": round(time.time() - t0, 2),
        "seconds_per_step": round(train_s / max(1, steps - start), 3),
        "resumed_at_step": start,
    }
    save_model_folder(model, tokenizer, out_dir, record)
    if partial.exists():
        shutil.rmtree(partial)
    log.info("saved %s (%d steps in %.1f s, final loss %.4f)", out_dir, steps, train_s, record["loss_last_mean"])
    return record


def _state_keys_on_disk(folder: str) -> list[str]:
    f = Path(folder) / "model.safetensors"
    if not f.is_file():
        return []
    from safetensors import safe_open

    with safe_open(str(f), framework="pt") as fh:
        return list(fh.keys())


def _same_modulo_prefix(key: str, loaded: set[str]) -> bool:
    # backbone checkpoints store "embeddings.x", the classification model "bert.embeddings.x"
    return key.split(".", 1)[-1] in loaded


def save_model_folder(model, tokenizer, out_dir: str | Path, record: dict) -> None:
    """``save_pretrained`` model + tokenizer + ``training.json`` into a temp folder, then rename onto ``out_dir``."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "training.json", record)
