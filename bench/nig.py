"""Benchmark: Neuron Integrated Gradients (conductance) of a cross-encoder — Captum LayerConductance vs irlens.

Run by hand (never in tests):  python bench/nig.py [--pairs 10] [--steps 25] [--a-pairs K] [--model FOLDER] [--quick]
On 2 shared CPU cores the defaults take about an hour: (a) costs ~2-2.5 min per pair (36 passes), the
completeness runs (3 rules x 25/50/100 steps for irlens, 2 methods x 25/50/100 for Captum) most of the rest.
``--a-pairs K`` runs (a) on the first K pairs only; ratios vs (a) then compare the same K pairs.

Model: ``AutoModelForSequenceClassification`` from the all-MiniLM-L6-v2 folder with ``num_labels=2`` (the
classification head is newly initialised, after ``torch.manual_seed(--seed)``), or ``--model FOLDER`` (a trained
reranker such as results/cross_encoder/minilm-ce/model). fp32, CPU, ``--threads`` threads.
F = P(label ``--relevant-label``) (softmax; σ for 1-logit heads, via irlens' ``target_probability``); target 1
("relevant") for every pair. Baseline: pad-all (every word embedding → the [PAD] embedding); interpolation in
word-embedding space (position and token-type embeddings added by the model), α_k = k/N, k = 0..N.

Pairs: the judged-relevant (query, document) pairs of SciFact test, sorted by (query id, document id)
(numerically), the first ``--pairs``; document text = ``doc_text`` (title + " " + text); tokenised
``[CLS] q [SEP] d [SEP]`` truncated to ``--max-length`` tokens.

Contenders, at equal steps N (``--steps``), in one process on the same pairs, interleaved pair by pair:
  (a) Captum ``LayerConductance`` looped over the 36 Linear modules of ``neuron_layout(model)`` (q, k, v,
      attention.output.dense, intermediate.dense, output.dense of each layer): one ``attribute()`` per module
      and pair, ``method="riemann_trapezoid"`` (the same α grid), ``internal_batch_size=None``, parameters
      frozen; outputs summed over tokens and concatenated → the same neuron vector as irlens.
  (b) irlens ``CrossEncoderNIG(rule=...)`` for rule in left (Captum's first-order Stieltjes sum: must agree
      with (a)), trapezoid (second order, same points) and richardson (fourth order, same points; needs an
      even N, so it runs at N − N mod 2). Timed one pair per call, and all pairs in one call (batched,
      padded to the longest pair, ``--batch-max-tokens`` padded tokens per chunk; 0 = all points in one chunk).
      Speedups: total (a) time / total irlens time over the same pairs, and the median over pairs of the
      per-pair ratio (robust to contention on a shared CPU); batched: per-pair rates.

Completeness at ``--completeness-steps``: irlens' ``rel_error`` (max over the encoder-layer cuts of
|Σ conductance(h_ℓ) − (F(x) − F(x′))| / |F(x) − F(x′)|) per rule, and its error on the single cut
``--cut-layer``; Captum ``LayerConductance`` on that cut (``model.bert.encoder.layer[ℓ]``, whose output is the
hidden state) with ``return_convergence_delta=True`` for ``riemann_trapezoid`` and the default ``gausslegendre``.
Each is summarised over the pairs by median, max and pooled (Σ|error| / Σ|F(x) − F(x′)|): the relative error
of a pair whose F(x) ≈ F(x′) (common with an untrained head, where F ≈ 0.5 along the whole path) is
ill-conditioned and dominates the max.
Agreement of few steps with many: Spearman and top-1 % Jaccard of the mean neuron vector over the pairs
(trapezoid at N, richardson at N − N mod 2, left at N, vs richardson at ``--ref-steps``).

Device mode (``--arch minilm-l6,bert-large --device cuda --doc-tokens 256,512 --dtype fp32,bf16``, run by
bench/device.sh): random-init cross-encoders (bench/devkit.py), synthetic pairs of exactly ``--doc-tokens``
tokens; (a) = the Captum loop in fp32 on ``--a-pairs`` pairs (default 1; ``--a-modules M``: M evenly spaced
modules timed and scaled to all), irlens ``--rule`` one pair per call and batched, fp32 and/or bf16 autocast;
FLOPs and the fraction of the GPU's peak. Writes ``--out-dir``/nig.json and one ``RESULT nig ...`` line.

Writes ``--out`` (results/bench/nig.json; atomically, rewritten with ``"complete": false`` after every stage)
and ends with one line ``RESULT key=value ...``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import devkit  # bench/devkit.py (the script's folder is on sys.path)
import numpy as np
import torch

from irlens.data.beir import doc_text, read_corpus, read_qrels, read_queries
from irlens.io import sha256_file, write_json
from irlens.nig.attribute import CrossEncoderNIG, baseline_embeddings, encoder_layers, neuron_layout, target_probability

REPO = Path(__file__).resolve().parents[1]
RULES = ("left", "trapezoid", "richardson")
CAPTUM_METHODS = ("riemann_trapezoid", "gausslegendre")


def log(msg: str) -> None:
    load = os.getloadavg()[0]  # the CPU is shared: a high load explains slow, noisy timings
    print(f"[{time.strftime('%H:%M:%S')} load {load:.1f}] {msg}", file=sys.stderr, flush=True)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _id_key(s: str):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def load_pairs(folder: Path, n: int) -> list[dict]:
    """Judged-relevant test pairs sorted by (query id, document id), numerically where the ids are numbers."""
    corpus = read_corpus(folder / "corpus.jsonl")
    queries = read_queries(folder / "queries.jsonl")
    qrels = read_qrels(folder / "qrels" / "test.tsv")
    keys = sorted(
        ((q, d) for q, docs in qrels.items() if q in queries for d, g in docs.items() if g > 0 and d in corpus),
        key=lambda qd: (_id_key(qd[0]), _id_key(qd[1])),
    )
    return [{"qid": q, "did": d, "query": queries[q], "document": doc_text(corpus[d])} for q, d in keys[:n]]


def even(n: int) -> int:
    return n - n % 2


def rule_steps(rule: str, n: int) -> int:
    return even(n) if rule == "richardson" else n


# ---- Captum plumbing ------------------------------------------------------------------------------
class Forward:
    """F(inputs_embeds) = target-label probability, as irlens computes it."""

    def __init__(self, model, relevant_label: int):
        self.model, self.relevant_label = model, relevant_label

    def __call__(self, embeds, token_type_ids, attention_mask):
        logits = self.model(inputs_embeds=embeds, token_type_ids=token_type_ids, attention_mask=attention_mask).logits
        tg = torch.ones(logits.shape[0], dtype=torch.long, device=logits.device)
        return target_probability(logits, tg, self.relevant_label)


def path_ends(model, tokenizer, feats):
    """x (word embeddings) and x′ (pad-all baseline) for one tokenised pair."""
    emb = model.get_input_embeddings()
    ids = feats["input_ids"]
    with torch.no_grad():
        x = emb(ids)
        xb = baseline_embeddings("pad-all", ids, x, emb, tokenizer.pad_token_id, tokenizer.sep_token_id)
    return x, xb


def captum_neurons(model, tokenizer, fwd, layout, feats, n_steps: int, method: str = "riemann_trapezoid"):
    """(a): LayerConductance once per hooked Linear; returns (float64 neuron vector [n_neurons], seconds per module)."""
    from captum.attr import LayerConductance

    x, xb = path_ends(model, tokenizer, feats)
    args = (feats["token_type_ids"], feats["attention_mask"])
    mask = feats["attention_mask"][0].to(torch.float64)
    out, secs = [], []
    for n in layout:
        t0 = time.perf_counter()
        lc = LayerConductance(fwd, model.get_submodule(n.module))
        attr = lc.attribute(
            x, baselines=xb, additional_forward_args=args, n_steps=n_steps, method=method, internal_batch_size=None
        )
        out.append((attr[0].detach().double() * mask[:, None]).sum(0))  # summed over (non-padding) tokens
        secs.append(time.perf_counter() - t0)
    return torch.cat(out).cpu().numpy(), secs


def captum_cut(model, tokenizer, fwd, layer_module, feats, n_steps: int, method: str):
    """LayerConductance on a cut (an encoder layer's output): (Σ attributions, convergence delta)."""
    from captum.attr import LayerConductance

    x, xb = path_ends(model, tokenizer, feats)
    lc = LayerConductance(fwd, layer_module)
    attr, delta = lc.attribute(
        x,
        baselines=xb,
        additional_forward_args=(feats["token_type_ids"], feats["attention_mask"]),
        n_steps=n_steps,
        method=method,
        internal_batch_size=None,
        return_convergence_delta=True,
    )
    assert torch.is_tensor(attr), f"cut layer output is {type(attr)}: expected one tensor"
    return float(attr.detach().double().sum()), float(delta.detach().reshape(-1)[0])


# ---- helpers ----------------------------------------------------------------------------------------
def rel_diff(a: np.ndarray, b: np.ndarray, layout) -> dict:
    """Differences of neuron vectors b vs reference a: overall max|a−b|/max|a|, and the worst module's."""
    whole = float(np.abs(a - b).max() / np.abs(a).max())
    per_mod = max(
        float(
            np.abs(a[n.offset : n.offset + n.units] - b[n.offset : n.offset + n.units]).max()
            / max(np.abs(a[n.offset : n.offset + n.units]).max(), 1e-300)
        )
        for n in layout
    )
    return {"max_abs_over_max_abs": whole, "worst_module": per_mod}


def agreement(ref: np.ndarray, v: np.ndarray, top: float) -> dict:
    """Spearman and Jaccard of the top ``top`` fraction (by value and by |value|) of two neuron vectors."""
    from scipy.stats import spearmanr

    k = max(1, int(round(top * len(ref))))

    def jac(key_ref, key_v):
        a = set(np.argsort(-key_ref, kind="stable")[:k].tolist())
        b = set(np.argsort(-key_v, kind="stable")[:k].tolist())
        return len(a & b) / len(a | b)

    return {
        "spearman": float(spearmanr(ref, v).statistic),
        "top_k": k,
        "jaccard_top": jac(ref, v),
        "jaccard_top_abs": jac(np.abs(ref), np.abs(v)),
    }


def stats(rel, gap) -> dict:
    """Relative errors per pair: median, max, and pooled = Σ|error| / Σ|gap| (not dominated by a pair whose
    F(x) − F(x′) is near 0, where the relative error is ill-conditioned)."""
    rel, gap = np.asarray(rel, dtype=float), np.abs(np.asarray(gap, dtype=float))
    return {
        "median": float(np.median(rel)),
        "max": float(np.max(rel)),
        "pooled": float(np.sum(rel * gap) / np.sum(gap)),
        "values": rel.tolist(),
    }


# ---- device mode: random-init cross-encoders of the papers' architectures, synthetic fixed-length pairs ----
def device_config(a, arch: str, L: int, dtypes: list[str]) -> dict:
    dev = a.device
    model, tok = devkit.random_cross_encoder(arch, dev, seed=a.seed)
    for p in model.parameters():
        p.requires_grad_(False)
    P = devkit.encoder_params(model)
    rng = np.random.default_rng(a.seed)
    Lq = a.query_tokens
    pairs = [(devkit.synthetic_text(rng, Lq), devkit.synthetic_text(rng, L - Lq + 1)) for _ in range(a.pairs)]
    feats = [{k: v.to(dev) for k, v in tok([q], [d], return_tensors="pt").items()} for q, d in pairs]
    batch = {k: v.to(dev) for k, v in tok([q for q, _ in pairs], [d for _, d in pairs], return_tensors="pt").items()}
    assert all(f["input_ids"].shape[1] == L for f in feats), [f["input_ids"].shape[1] for f in feats]
    layout = neuron_layout(model)
    fwd = Forward(model, a.relevant_label)
    N = a.steps
    M = len(layout) if not a.a_modules else min(a.a_modules, len(layout))
    mods = [layout[i] for i in np.linspace(0, len(layout) - 1, M).round().astype(int)]
    out = {
        "arch": arch,
        "tokens": L,
        "encoder_params": P,
        "n_pairs": len(pairs),
        "steps": N,
        "n_modules": len(layout),
        "a_modules_timed": M,
        "dtypes": {},
    }

    def nig(max_tokens):
        return CrossEncoderNIG(
            model, tok, relevant_label=a.relevant_label, baseline="pad-all", steps=N, rule=a.rule, max_tokens=max_tokens
        )

    flops_pair = devkit.fwd_bwd_flops(P, L) * (N + 1)
    for dt in dtypes:
        R = out["dtypes"][dt] = {}
        with devkit.autocast(dev, dt):
            nig(a.batch_max_tokens).attribute(feats[0], [1])  # warm-up
            devkit.sync(dev)
            t0 = time.perf_counter()
            res1 = [nig(a.batch_max_tokens).attribute(f, [1]) for f in feats]
            devkit.sync(dev)
            t1 = time.perf_counter() - t0
            mt = a.batch_max_tokens or len(pairs) * L * (N + 1)
            t0 = time.perf_counter()
            resb = nig(mt).attribute(batch, [1] * len(pairs))
            devkit.sync(dev)
            tb = time.perf_counter() - t0
        rel = [float(np.max(r.rel_error)) for r in res1]
        R["irlens_per_call"] = {
            "seconds": t1,
            "seconds_per_pair": t1 / len(pairs),
            "rel_error_max": float(np.max(rel)),
            "rel_error_median": float(np.median(rel)),
            **devkit.frac_peak(flops_pair * len(pairs), t1, dev, dt),
        }
        R["irlens_batched"] = {
            "seconds": tb,
            "seconds_per_pair": tb / len(pairs),
            "rel_error_max": float(np.max(resb.rel_error)),
            "max_tokens": mt,
            **devkit.frac_peak(flops_pair * len(pairs), tb, dev, dt),
        }
        log(
            f"{arch} L={L} {dt}: irlens {a.rule}@{N} per call {t1 / len(pairs):.3f} s/pair, batched "
            f"{tb / len(pairs):.3f} s/pair, max rel {np.max(rel):.1e}"
        )
        if not a.skip_a and (dt == "fp32" or a.a_all_dtypes):
            K = max(1, min(a.a_pairs or 1, len(feats)))
            secs = []
            with devkit.autocast(dev, dt):
                captum_neurons(model, tok, fwd, mods[:1], feats[0], 2)  # warm-up
                for f in feats[:K]:
                    devkit.sync(dev)
                    _, ms = captum_neurons(model, tok, fwd, mods, f, N)
                    secs.append(sum(ms) * len(layout) / M)  # projected to all modules
            sp = float(np.mean(secs))
            R["a"] = {
                "seconds_per_pair": sp,
                "n_pairs": K,
                "dtype": dt,
                "modules_timed": M,
                "projected_from_modules": M < len(layout),
                **devkit.frac_peak(flops_pair * len(layout), sp, dev, dt),
            }
            log(f"{arch} L={L} {dt}: (a) Captum loop {sp:.2f} s/pair ({M}/{len(layout)} modules timed)")
    a_ref = next((R["a"] for R in out["dtypes"].values() if "a" in R), None)
    if a_ref is not None:
        out["a_fp32_seconds_per_pair"] = a_ref["seconds_per_pair"]
        for R in out["dtypes"].values():
            ref = R.get("a", a_ref)["seconds_per_pair"]
            for k in ("irlens_per_call", "irlens_batched"):
                R[f"speedup_{k}_over_a"] = ref / R[k]["seconds_per_pair"]
    return out


def device_main(a) -> None:
    import captum

    archs = [x.strip() for x in a.arch.split(",") if x.strip()]
    lengths = [int(x) for x in str(a.doc_tokens).split(",") if x.strip()]
    dtypes = [x.strip() for x in a.dtype.split(",") if x.strip()]
    if torch.device(a.device).type == "cpu":
        torch.set_num_threads(a.threads)
    out_path = Path(a.out_dir) / "nig.json" if a.out_dir else Path(a.out or REPO / "results/bench/nig.device.json")
    result = {
        "complete": False,
        "mode": "device (random-init cross-encoders, synthetic pairs)",
        "device": a.device,
        "device_name": devkit.device_name(a.device),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "versions": {"torch": torch.__version__, "captum": captum.__version__, "python": platform.python_version()},
        "settings": {
            "steps": a.steps,
            "rule": a.rule,
            "pairs": a.pairs,
            "baseline": "pad-all",
            "a": "LayerConductance riemann_trapezoid per module, internal_batch_size=None; with --a-modules M "
            "M evenly spaced modules are timed and scaled to all",
            "flops": "~2*encoder_params*tokens per forward, x3 with backward, N+1 points per module "
            "(Captum) or per pair (irlens)",
        },
        "runs": {},
    }
    for arch in archs:
        for L in lengths:
            result["runs"][f"{arch}_{L}"] = device_config(a, arch, L, dtypes)
            write_json(out_path, result)
            if torch.device(a.device).type == "cuda":
                import gc

                gc.collect()
                torch.cuda.empty_cache()  # the config's models are gone
    result["complete"] = True
    write_json(out_path, result)
    f = devkit.fmt
    parts = [f"device={a.device}", f"pairs={a.pairs}", f"steps={a.steps}", f"rule={a.rule}"]
    for key, r in result["runs"].items():
        if "a_fp32_seconds_per_pair" in r:
            parts.append(f"{key}_a_s_per_pair={r['a_fp32_seconds_per_pair']:.3f}")
        for dt, R in r["dtypes"].items():
            t = f"{key}_{dt}"
            parts += [
                f"{t}_per_call_s_per_pair={R['irlens_per_call']['seconds_per_pair']:.4f}",
                f"{t}_batched_s_per_pair={R['irlens_batched']['seconds_per_pair']:.4f}",
                f"{t}_max_rel={R['irlens_per_call']['rel_error_max']:.1e}",
            ]
            if "speedup_irlens_batched_over_a" in R:
                parts += [
                    f"{t}_speedup_per_call_a={R['speedup_irlens_per_call_over_a']:.1f}",
                    f"{t}_speedup_batched_a={R['speedup_irlens_batched_over_a']:.1f}",
                ]
            parts += [f"{t}_batched_frac_peak={f(R['irlens_batched']['frac_peak'])}"]
            if "a" in R:
                parts += [f"{t}_a_frac_peak={f(R['a']['frac_peak'])}"]
    print("RESULT nig " + " ".join(parts), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO / "results/data/scifact"), help="BEIR folder")
    ap.add_argument("--model", default=None, help="a trained reranker folder (default: MiniLM-L6 + new 2-label head)")
    ap.add_argument("--relevant-label", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="torch seed before loading (the new head's init)")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument(
        "--a-pairs",
        type=int,
        default=0,
        help="run (a) on the first K pairs only (0: all); ratios vs (a) then compare the same K pairs",
    )
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--completeness-steps", default="25,50,100")
    ap.add_argument("--ref-steps", type=int, default=100, help="the reference for the agreement (richardson)")
    ap.add_argument("--cut-layer", type=int, default=-1, help="encoder layer whose output is Captum's completeness cut")
    ap.add_argument("--top", type=float, default=0.01, help="top fraction of neurons for the Jaccard")
    ap.add_argument(
        "--batch-max-tokens",
        type=int,
        default=16384,
        help=(
            "irlens batched calls: max_tokens, padded tokens per chunk "
            "(16384 = irlens' default; 0: all points in one chunk)"
        ),
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--quick", action="store_true", help="smoke check: 2 pairs, 4 steps, completeness at 4,8, reference 8"
    )
    ap.add_argument("--out", default=None, help="default results/bench/nig.json (nig.quick.json with --quick)")
    # device mode (bench/device.sh): random-init cross-encoders of the papers' architectures, synthetic pairs
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--arch",
        default="packaged",
        help="packaged (SciFact + MiniLM, CPU: the study above) or a comma list of " + ",".join(devkit.ARCHS),
    )
    ap.add_argument("--doc-tokens", default="256", help="device mode: pair lengths in tokens (comma list)")
    ap.add_argument("--query-tokens", type=int, default=16)
    ap.add_argument("--dtype", default="fp32", help="device mode: fp32 and/or bf16 (autocast), comma list")
    ap.add_argument("--rule", default="trapezoid", help="device mode: irlens' rule")
    ap.add_argument("--skip-a", action="store_true", help="device mode: leave out the Captum loop (a)")
    ap.add_argument("--a-modules", type=int, default=0, help="device mode: time (a) on M evenly spaced modules, scaled")
    ap.add_argument("--a-all-dtypes", action="store_true", help="device mode: (a) under bf16 autocast too")
    ap.add_argument("--out-dir", default=None, help="device mode: write nig.json here")
    a = ap.parse_args()
    if a.arch != "packaged":
        return device_main(a)
    if a.quick:
        a.pairs, a.steps, a.completeness_steps, a.ref_steps = 2, 4, "4,8", 8
    out_path = a.out or str(REPO / ("results/bench/nig.quick.json" if a.quick else "results/bench/nig.json"))
    c_steps = [int(s) for s in a.completeness_steps.split(",") if s.strip()]
    assert a.ref_steps % 2 == 0, "--ref-steps: richardson needs an even count"

    import captum
    import scipy
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from irlens.models import resolve_model

    torch.set_num_threads(a.threads)
    N = a.steps
    pairs = load_pairs(Path(a.data), a.pairs)
    assert len(pairs) == a.pairs, f"only {len(pairs)} judged-relevant pairs"
    K = min(a.a_pairs, len(pairs)) if a.a_pairs else len(pairs)
    if a.model:
        path, model_id = a.model, a.model
        torch.manual_seed(a.seed)
        model = AutoModelForSequenceClassification.from_pretrained(path)
    else:
        model_id = "sentence-transformers/all-MiniLM-L6-v2"
        path = resolve_model(model_id, allow_hub=False).path
        torch.manual_seed(a.seed)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tok = AutoTokenizer.from_pretrained(path)
    model = model.float().eval()
    for p in model.parameters():  # a tuned Captum: no parameter gradients (irlens freezes them itself)
        p.requires_grad_(False)
    layout = neuron_layout(model)
    n_neurons = sum(n.units for n in layout)
    _, enc_layers, _ = encoder_layers(model)
    cut = a.cut_layer % len(enc_layers)
    fwd = Forward(model, a.relevant_label)

    feats = [
        dict(tok([p["query"]], [p["document"]], truncation=True, max_length=a.max_length, return_tensors="pt"))
        for p in pairs
    ]
    batch = dict(
        tok(
            [p["query"] for p in pairs],
            [p["document"] for p in pairs],
            truncation=True,
            max_length=a.max_length,
            padding=True,
            return_tensors="pt",
        )
    )
    lengths = [int(f["input_ids"].shape[1]) for f in feats]
    targets = [1]
    log(
        f"{len(pairs)} pairs, lengths {lengths}, N={N}, {len(layout)} modules / {n_neurons} neurons, "
        f"threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, captum {captum.__version__}"
    )

    def nig(rule, steps, max_tokens=16384):
        return CrossEncoderNIG(
            model,
            tok,
            relevant_label=a.relevant_label,
            baseline="pad-all",
            steps=rule_steps(rule, steps),
            rule=rule,
            max_tokens=max_tokens,
        )

    result = {
        "complete": False,
        "model": model_id,
        "model_path": str(path),
        "head": "trained" if a.model else f"new 2-label head, torch.manual_seed({a.seed})",
        "weights_sha256": sha256_file(Path(path) / "model.safetensors")
        if (Path(path) / "model.safetensors").is_file()
        else None,
        "data": a.data,
        "pairs": [{"qid": p["qid"], "did": p["did"], "tokens": L} for p, L in zip(pairs, lengths)],
        "n_pairs": len(pairs),
        "n_pairs_a": K,
        "settings": {
            "steps": N,
            "points": N + 1,
            "richardson_steps": even(N),
            "max_length": a.max_length,
            "baseline": "pad-all",
            "target": f"P(label {a.relevant_label})",
            "threads": a.threads,
            "dtype": "float32",
            "device": "cpu",
            "n_modules": len(layout),
            "n_neurons": n_neurons,
            "completeness_steps": c_steps,
            "ref_steps": a.ref_steps,
            "cut_layer": cut,
            "top": a.top,
            "a": {
                "class": "LayerConductance",
                "method": "riemann_trapezoid",
                "internal_batch_size": None,
                "params_requires_grad": False,
                "calls_per_pair": len(layout),
            },
            "batch_max_tokens": a.batch_max_tokens,
        },
        "versions": {
            "torch": torch.__version__,
            "captum": captum.__version__,
            "transformers": transformers.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }

    def save():
        result["peak_rss_gb"] = peak_rss_gb()
        write_json(out_path, result)

    # ---- warm-up (untimed): first calls allocate and pick kernels
    captum_neurons(model, tok, fwd, layout[:1], feats[0], 2)
    nig("trapezoid", 2).attribute(feats[0], targets)
    log("warm-up done")

    # ---- timing, interleaved pair by pair: (a) then irlens per rule, one pair per call
    T = {"a": [], **{r: [] for r in RULES}}
    a_mod_secs, vec = [], {"a": [], **{r: [] for r in RULES}}
    per_pair_res = {r: [] for r in RULES}
    nigs = {r: nig(r, N) for r in RULES}
    for k, f in enumerate(feats):
        if k < K:
            t0 = time.perf_counter()
            v, ms = captum_neurons(model, tok, fwd, layout, f, N)
            T["a"].append(time.perf_counter() - t0)
            vec["a"].append(v)
            a_mod_secs.append(ms)
        for r in RULES:
            t0 = time.perf_counter()
            res = nigs[r].attribute(f, targets)
            T[r].append(time.perf_counter() - t0)
            vec[r].append(res.values[0])
            per_pair_res[r].append(res)
        log(
            f"pair {k + 1}/{len(feats)} L={lengths[k]}: "
            + (f"(a) {T['a'][-1]:.2f}s | " if k < K else "")
            + " ".join(f"{r} {T[r][-1]:.2f}s" for r in RULES)
            + (
                f" | left vs (a) {rel_diff(vec['a'][-1], vec['left'][-1], layout)['max_abs_over_max_abs']:.2e}"
                if k < K
                else ""
            )
        )
    diffs = [rel_diff(va, vl, layout) for va, vl in zip(vec["a"], vec["left"])]
    diffs_trap = [rel_diff(va, vt, layout) for va, vt in zip(vec["a"], vec["trapezoid"])]
    f_in = np.array([r.f_input[0] for r in per_pair_res["left"]])
    f_base = np.array([r.f_baseline[0] for r in per_pair_res["left"]])
    result["scores"] = {"f_input": f_in.tolist(), "f_baseline": f_base.tolist(), "gap": (f_in - f_base).tolist()}
    result["timing"] = {
        "a": {
            "seconds_per_pair": float(np.mean(T["a"])),
            "pair_seconds": T["a"],
            "n_pairs": K,
            "module_seconds_mean": float(np.mean(a_mod_secs)),
            "module_seconds": a_mod_secs,
        },
        **{
            r: {
                "seconds_per_pair": float(np.mean(T[r])),
                "seconds_per_pair_a_pairs": float(np.mean(T[r][:K])),
                "pair_seconds": T[r],
                "steps": rule_steps(r, N),
            }
            for r in RULES
        },
    }
    result["speedup_vs_a"] = {r: float(np.sum(T["a"]) / np.sum(T[r][:K])) for r in RULES}  # the same K pairs
    # the CPU is shared: contention comes and goes, so also the median over pairs of the per-pair ratio
    # ((a) and irlens run back to back on each pair)
    result["speedup_vs_a_median_pair"] = {r: float(np.median(np.array(T["a"]) / np.array(T[r][:K]))) for r in RULES}
    result["agreement_left_vs_a"] = {
        "max_abs_over_max_abs": max(d["max_abs_over_max_abs"] for d in diffs),
        "worst_module": max(d["worst_module"] for d in diffs),
        "per_pair": diffs,
        "trapezoid_vs_a_max_abs_over_max_abs": max(d["max_abs_over_max_abs"] for d in diffs_trap),
    }
    save()
    log(
        f"(a) {np.mean(T['a']):.2f} s/pair; "
        + ", ".join(f"{r} {np.mean(T[r]):.3f} s/pair ({result['speedup_vs_a'][r]:.1f}x)" for r in RULES)
        + f"; left vs (a) max {result['agreement_left_vs_a']['max_abs_over_max_abs']:.2e} "
        f"worst module {result['agreement_left_vs_a']['worst_module']:.2e}"
    )

    # ---- optional, cheap: Captum's default gausslegendre on one module (pair 0), vs riemann_trapezoid there
    _, gl = captum_neurons(model, tok, fwd, layout[:1], feats[0], N, method="gausslegendre")
    _, rt = captum_neurons(model, tok, fwd, layout[:1], feats[0], N, method="riemann_trapezoid")
    result["timing"]["a_one_module_pair0"] = {
        "module": layout[0].module,
        "gausslegendre_s": gl[0],
        "riemann_trapezoid_s": rt[0],
    }
    log(f"one module ({layout[0].module}), pair 0: gausslegendre {gl[0]:.2f}s, riemann_trapezoid {rt[0]:.2f}s")

    # ---- batched: all pairs in one call per rule
    B, Tmax = batch["input_ids"].shape
    mt = a.batch_max_tokens or B * Tmax * (N + 1)
    tb, batched = {}, {}
    for r in RULES:
        t0 = time.perf_counter()
        res = batched[(r, N)] = nig(r, N, max_tokens=mt).attribute(batch, [1] * B)
        tb[r] = time.perf_counter() - t0
        d = max(float(np.abs(res.values[i] - vec[r][i]).max() / np.abs(vec[r][i]).max()) for i in range(B))
        result["timing"][f"{r}_batched"] = {
            "seconds": tb[r],
            "seconds_per_pair": tb[r] / B,
            "max_tokens": mt,
            "padded_tokens": int(B * Tmax),
            "real_tokens": int(sum(lengths)),
            "points_per_chunk": res.meta["points_per_chunk"],
            "max_rel_diff_vs_single": d,
        }
        result["speedup_vs_a"][f"{r}_batched"] = float(np.mean(T["a"]) / (tb[r] / B))  # per-pair rates
        log(
            f"batched {r}: {tb[r]:.2f}s ({tb[r] / B:.3f} s/pair, "
            f"{result['speedup_vs_a'][f'{r}_batched']:.1f}x vs (a)), "
            f"diff vs single {d:.1e}, peak RSS {peak_rss_gb():.1f} GB"
        )
    save()

    # ---- completeness: irlens (batched) per rule and N; Captum on one cut per pair, N and method
    comp = result["completeness"] = {"irlens": {}, "captum": {}, "cut_layer": cut}
    mean_vec = {}
    for n in c_steps:
        for r in RULES:
            res = (
                batched[(r, n)] if (r, n) in batched else nig(r, n, max_tokens=mt).attribute(batch, [1] * B)
            )  # N: reuse
            gap = np.abs(res.f_input - res.f_baseline)
            per_layer = np.abs(res.cut_delta) / gap[:, None]  # [B, layers]
            comp["irlens"][f"{r}@{n}"] = {
                "steps": rule_steps(r, n),
                "rel_error": stats(res.rel_error, gap),
                "rel_error_cut": stats(per_layer[:, cut], gap),
                "rel_error_per_layer_median": np.median(per_layer, axis=0).tolist(),
                "rel_error_per_layer_max": per_layer.max(axis=0).tolist(),
                "cut_sum": res.cut_sum[:, cut].tolist(),
            }
            mean_vec[(r, n)] = res.values.mean(0)
            log(
                f"irlens {r}@{rule_steps(r, n)}: rel_error (max over cuts) median {np.median(res.rel_error):.2e} "
                f"max {np.max(res.rel_error):.2e}; "
                f"cut {cut} median {np.median(per_layer[:, cut]):.2e} max {per_layer[:, cut].max():.2e}; "
                f"per-layer medians " + " ".join(f"{x:.1e}" for x in np.median(per_layer, axis=0))
            )
        save()
    for n in c_steps:
        for m in CAPTUM_METHODS:
            sums, rel = [], []
            for k, f in enumerate(feats):
                s, d = captum_cut(model, tok, fwd, enc_layers[cut], f, n, m)
                sums.append(s)
                rel.append(abs(d) / abs(result["scores"]["gap"][k]))
            comp["captum"][f"{m}@{n}"] = {"rel_error": stats(rel, result["scores"]["gap"]), "cut_sum": sums}
            log(f"captum {m}@{n} on layer {cut}: rel_error median {np.median(rel):.2e} max {np.max(rel):.2e}")
        save()
    # the Captum module is the cut irlens hooks: riemann_trapezoid == irlens' left rule on that layer
    n0 = c_steps[0]
    cs_cap = np.array(comp["captum"][f"riemann_trapezoid@{n0}"]["cut_sum"])
    cs_irl = np.array(comp["irlens"][f"left@{n0}"]["cut_sum"])
    comp["cut_check"] = {
        "steps": n0,
        "max_abs_diff_captum_rt_vs_irlens_left": float(np.abs(cs_cap - cs_irl).max()),
        "max_abs_gap": float(np.abs(result["scores"]["gap"]).max()),
    }
    log(
        f"cut check at {n0}: |Σ captum − Σ irlens left| max "
        f"{comp['cut_check']['max_abs_diff_captum_rt_vs_irlens_left']:.2e}"
    )

    # ---- few steps vs many: mean neuron vector over the pairs
    ref_key = ("richardson", a.ref_steps)
    if ref_key not in mean_vec:
        mean_vec[ref_key] = nig("richardson", a.ref_steps, max_tokens=mt).attribute(batch, [1] * B).values.mean(0)
    ref = mean_vec[ref_key]
    ag = result["agreement_vs_ref"] = {"ref": f"richardson@{a.ref_steps}"}
    single_mean = {r: np.mean(vec[r], axis=0) for r in RULES}
    for r in RULES:
        ag[f"{r}@{rule_steps(r, N)}"] = agreement(ref, single_mean[r], a.top)
    if K == len(pairs):
        ag[f"captum_rt@{N}"] = agreement(ref, np.mean(vec["a"], axis=0), a.top)
    log(
        "agreement vs "
        + ag["ref"]
        + ": "
        + ", ".join(f"{k} rho {v['spearman']:.4f} J {v['jaccard_top']:.3f}" for k, v in ag.items() if k != "ref")
    )
    result["complete"] = True
    save()

    # ---- RESULT line
    tm, sp = result["timing"], result["speedup_vs_a"]
    parts = [
        f"pairs={len(pairs)}",
        f"a_pairs={K}",
        f"steps={N}",
        f"mean_tokens={np.mean(lengths):.1f}",
        f"a_s_per_pair={tm['a']['seconds_per_pair']:.2f}",
    ]
    for r in RULES:
        parts += [
            f"{r}_s_per_pair={tm[r]['seconds_per_pair']:.3f}",
            f"{r}_batched_s_per_pair={tm[r + '_batched']['seconds_per_pair']:.3f}",
        ]
    for r in RULES:
        parts += [
            f"speedup_{r}_a={sp[r]:.1f}",
            f"speedup_{r}_a_median_pair={result['speedup_vs_a_median_pair'][r]:.1f}",
            f"speedup_{r}_batched_a={sp[r + '_batched']:.1f}",
        ]
    parts += [
        f"left_vs_a_max_rel_diff={result['agreement_left_vs_a']['max_abs_over_max_abs']:.1e}",
        f"left_vs_a_worst_module_rel_diff={result['agreement_left_vs_a']['worst_module']:.1e}",
    ]
    for n in c_steps:
        for r in RULES:
            e, c = comp["irlens"][f"{r}@{n}"]["rel_error"], comp["irlens"][f"{r}@{n}"]["rel_error_cut"]
            t = f"{r}{rule_steps(r, n)}"
            parts += [
                f"{t}_rel_med={e['median']:.1e}",
                f"{t}_rel_max={e['max']:.1e}",
                f"{t}_rel_pooled={e['pooled']:.1e}",
                f"{t}_cut{cut}_rel_med={c['median']:.1e}",
                f"{t}_cut{cut}_rel_max={c['max']:.1e}",
                f"{t}_cut{cut}_rel_pooled={c['pooled']:.1e}",
            ]
        for m, short in zip(CAPTUM_METHODS, ("captum_rt", "captum_gl")):
            e = comp["captum"][f"{m}@{n}"]["rel_error"]
            parts += [
                f"{short}{n}_cut{cut}_rel_med={e['median']:.1e}",
                f"{short}{n}_cut{cut}_rel_max={e['max']:.1e}",
                f"{short}{n}_cut{cut}_rel_pooled={e['pooled']:.1e}",
            ]
    for key in (f"trapezoid@{N}", f"richardson@{even(N)}"):
        short = key.replace("@", "")
        parts += [
            f"{short}_rho_vs_ref={ag[key]['spearman']:.4f}",
            f"{short}_jaccard1pct_vs_ref={ag[key]['jaccard_top']:.3f}",
        ]
    print("RESULT " + " ".join(parts), flush=True)


if __name__ == "__main__":
    main()
