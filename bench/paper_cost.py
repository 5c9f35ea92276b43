"""Unit costs of the paper preset's stages, measured on CPU with the packaged MiniLM.

Run by hand (never in tests):

    python bench/paper_cost.py --out results/bench/paper_cost.json [--threads 2] [--only encode,ig,cross,gpl,sae]
    python bench/paper_cost.py --table results/bench/paper_cost.json [more.json ...]   # the cost table

Every unit runs the irlens public functions with the settings of ``presets/paper.yaml`` (512 tokens for the
cross-encoder, IG's adaptive rule as the preset sets it when the script runs, NIG at 100 steps with
``pad-all`` and the ``richardson`` rule, GPL batch 32 at 350 tokens, SAE 32,768 latents / K 128 /
batch 4,096 + 1,024 anchors × 8 neighbours at width 768), but with
``sentence-transformers/all-MiniLM-L6-v2`` (the packaged copy, offline) in place of the hub models; the
cross-encoder is that MiniLM with a fresh 2-logit head (``irlens.models.load_cross_encoder`` on the packaged
folder), whose weights do not change the cost.
Texts: SciFact and NFCorpus from the shared BEIR mirror (the preset's TREC-COVID, FiQA and MS MARCO are not
on this machine); each unit records the mean token length it ran at.

Each unit is timed ``--repeats`` times (after one warm-up where the first call pays for allocation), the
median is reported together with the 1-minute load average before and after (the CPU is shared). The
scaling to the papers' encoders (DistilBERT, BERT-base/BGE-base, BERT-large/monoBERT) is an extrapolation by
forward FLOPs per token (2 × non-embedding parameters + the attention term 4·L·T·d), not a measurement.
Writes ``--out`` and ends with one line ``RESULT key=value ...``. ``--only`` measures some units (cross: rerank,
ablation and NIG); ``--table`` merges result files (later ones override units) and prints the paper preset's
cost table: its counts (BEIR's published corpus sizes for the corpora not on this machine) are constants below.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"

# (layers, hidden, ffn, all parameters) of the encoders the paper preset names
ARCH = {
    "minilm-l6": (6, 384, 1536, 22.7e6),
    "distilbert": (6, 768, 3072, 66e6),
    "bert-base": (12, 768, 3072, 110e6),
    "bert-large": (24, 1024, 4096, 335e6),
}


def flops_per_token(arch: str, seq: int) -> float:
    """Forward FLOPs per token: 2 × non-embedding (Linear) parameters + attention scores/values 4·L·T·d."""
    L, d, ff, _ = ARCH[arch]
    linear = L * (4 * d * d + 2 * d * ff)
    return 2 * linear + 4 * L * seq * d


def scale(arch: str, seq: int) -> float:
    return flops_per_token(arch, seq) / flops_per_token("minilm-l6", seq)


def preset_ig() -> dict:
    """The IG quadrature settings of the paper preset (over config.yaml), read when the script runs."""
    import yaml

    base = yaml.safe_load((REPO / "config.yaml").read_text())["ig"]
    over = yaml.safe_load((REPO / "presets/paper.yaml").read_text()).get("ig", {})
    cfg = {**base, **over}
    return {k: cfg[k] for k in ("method", "steps", "tol", "max_steps")}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load():.2f}] {msg}", file=sys.stderr, flush=True)


def timed(fn, repeats: int, warmup: bool = True) -> dict:
    """Median seconds of ``fn()`` over ``repeats`` calls (after one untimed warm-up), with the load."""
    if warmup:
        fn()
    before = load()
    times, extra = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
        extra.append(r)
    return {
        "median_s": round(statistics.median(times), 4),
        "runs_s": [round(t, 4) for t in times],
        "load_before": before,
        "load_after": load(),
        "extra": extra[-1] if extra else None,
    }


def texts(data: Path):
    from irlens.data.beir import doc_text, read_corpus, read_qrels, read_queries

    corpus, queries, pairs = {}, {}, []
    for name in ("scifact", "nfcorpus"):
        c = read_corpus(data / name / "corpus.jsonl")
        q = read_queries(data / name / "queries.jsonl")
        rel = read_qrels(data / name / "qrels" / "test.tsv")
        corpus.update({f"{name}/{k}": doc_text(v) for k, v in c.items()})
        queries.update({f"{name}/{k}": v for k, v in q.items()})
        for qid in sorted(rel)[:50]:
            for did, g in sorted(rel[qid].items()):
                if int(g) > 0:
                    pairs.append((f"{name}/{qid}", f"{name}/{did}"))
                    break
    return corpus, queries, pairs


# ------------------------------------------------------------------------------------------------ counts
# Corpus sizes, queries and judged relevant per query: BEIR's published table (Thakur et al. 2021, Table 1) for
# MS MARCO, TREC-COVID and FiQA (not on this machine); SciFact and NFCorpus agree with the local copies.
# Mean document tokens = words × 1.5 (biomedical; measured 1.52-1.56 on SciFact/NFCorpus here) or × 1.3 (web,
# finance; assumption) + 2 special tokens, capped by the stage's max length.
CORPUS = {"msmarco": 8_841_823, "trec-covid": 171_332, "fiqa": 57_638, "nfcorpus": 3_633, "scifact": 5_183}
DOC_TOKENS = {"msmarco": 75, "trec-covid": 243, "fiqa": 174, "nfcorpus": 354, "scifact": 336}
Q_TOKENS = {"msmarco": 10, "trec-covid": 18, "fiqa": 16, "nfcorpus": 7, "scifact": 20}
TEST_QUERIES = {"trec-covid": 50, "fiqa": 648, "nfcorpus": 323, "scifact": 300}


def pair_tokens(ds: str, cap: int) -> float:
    return min(cap, DOC_TOKENS[ds] + Q_TOKENS[ds] + 1)


def cost_table(res: dict, gpus=(1, 4, 8)) -> None:
    """The paper preset's counts × the measured units (scaled by FLOPs per token), as markdown rows, and the
    wall time on N workers: Σ over stages of max(ceil(J / N) · W / J, L) for a stage of work W in J jobs whose
    longest job takes L (training stages are single jobs: L = one training)."""
    u = res["units"]
    rows = []  # (stage, unit, arch, measured unit s, factor, count, work s, jobs, longest job s)

    def add(stage, unit, arch, c, factor, n, work, jobs, longest):
        rows.append((stage, unit, arch, c, factor, n, work, jobs, longest))

    # encoding: corpora per bi-encoder (retrieval.dense with their datasets; GPL's two miners on the targets)
    s_tok = u["encode"]["s_per_1M_tokens"] / 1e6
    enc = {
        "distilbert": {"msmarco": 1, "trec-covid": 5, "fiqa": 5, "nfcorpus": 1, "scifact": 1},
        "bert-base": {d: 1 for d in CORPUS},
        "minilm-l6": {"trec-covid": 1, "fiqa": 1},
    }
    cap = {"distilbert": 350, "bert-base": 512, "minilm-l6": 512}
    for arch, per in enc.items():
        f = scale(arch, 350)
        toks = sum(n * CORPUS[d] * min(cap[arch], DOC_TOKENS[d]) for d, n in per.items())
        docs = sum(n * CORPUS[d] for d, n in per.items())
        longest = max(CORPUS[d] * min(cap[arch], DOC_TOKENS[d]) for d in per) * s_tok * f
        add(
            "encode corpora",
            "1k docs",
            arch,
            u["encode"]["s_per_1k_docs"],
            f,
            docs / 1e3,
            toks * s_tok * f,
            sum(per.values()),
            longest,
        )
    # IG: 3 models × (TREC-COVID 50 q × (493.5 relevant + ~50 more from the top-25 union) + FiQA 50 q × (2.6 + ~50))
    ig_pairs = {"trec-covid": 50 * (493.5 + 50), "fiqa": 50 * (2.6 + 50)}
    t_meas = float(np.mean(u["ig_document"]["doc_tokens"]))
    f = scale("distilbert", 350)
    per_model = {
        d: n * (2 * u["ig_document"]["s_per_pair"] * min(350, DOC_TOKENS[d]) / t_meas + u["ig_query"]["s_per_pair"]) * f
        for d, n in ig_pairs.items()
    }
    n_ig = sum(ig_pairs.values()) * 3
    add(
        "IG (document, untitled, query sides)",
        "pair, 3 sides",
        "distilbert",
        2 * u["ig_document"]["s_per_pair"] + u["ig_query"]["s_per_pair"],
        f,
        n_ig,
        3 * sum(per_model.values()),
        48,
        per_model["trec-covid"] / 8,
    )

    def per_pair(lo: dict, hi: dict, key: str, t_lo: float, t_hi: float):
        """Cost at t tokens: linear between the two measured lengths, proportional to t outside them."""

        def f(t: float) -> float:
            if t <= t_lo:
                return lo[key] * t / t_lo
            if t >= t_hi:
                return hi[key] * t / t_hi
            return lo[key] + (hi[key] - lo[key]) * (t - t_lo) / (t_hi - t_lo)

        return f

    nig = per_pair(
        u["nig_128"],
        u["nig_512"],
        "s_per_pair",
        float(np.mean(u["nig_128"]["pair_tokens"])),
        float(np.mean(u["nig_512"]["pair_tokens"])),
    )
    nig_ds = {
        d: 2000 * nig(pair_tokens(d, 512)) * scale("bert-large", pair_tokens(d, 512))
        for d in ("msmarco", "trec-covid", "fiqa", "nfcorpus")
    }
    add(
        "NIG (100 steps)",
        "pair",
        "bert-large",
        u["nig_512"]["s_per_pair"],
        scale("bert-large", 512),
        8000,
        sum(nig_ds.values()),
        128,
        max(nig_ds.values()) / 2 / 16,
    )
    abl = per_pair(
        u["ablation_128"],
        u["ablation_512"],
        "s_per_pair_mask",
        u["ablation_128"]["mean_pair_tokens"],
        u["ablation_512"]["mean_pair_tokens"],
    )
    masks = 10 * 3 * 51
    abl_pairs = {"msmarco": 6000 * 21.1, "fiqa": 500 * 22.6}
    abl_ds = {
        d: n * masks * abl(pair_tokens(d, 512)) * scale("bert-large", pair_tokens(d, 512)) for d, n in abl_pairs.items()
    }
    add(
        "ablation",
        "pair × mask",
        "bert-large",
        u["ablation_128"]["s_per_pair_mask"],
        scale("bert-large", 128),
        sum(abl_pairs.values()) * masks,
        sum(abl_ds.values()),
        20,
        abl_ds["msmarco"] / 10,
    )
    rr = u["rerank"]
    rr_ds = {
        d: q
        * 100
        * rr["s_per_pair"]
        * pair_tokens(d, 512)
        / rr["mean_pair_tokens"]
        * scale("bert-large", pair_tokens(d, 512))
        for d, q in TEST_QUERIES.items()
    }
    add(
        "rerank, depth 100",
        "query",
        "bert-large",
        rr["s_per_query"],
        scale("bert-large", 512),
        sum(TEST_QUERIES.values()),
        sum(rr_ds.values()),
        4,
        max(rr_ds.values()),
    )
    pl = {
        d: 2 * 140_000 * 32 * rr["s_per_pair"] * min(350, DOC_TOKENS[d]) / rr["mean_pair_tokens"]
        for d in ("trec-covid", "fiqa")
    }
    add(
        "GPL pseudo-labels (teacher)",
        "pair",
        "minilm-l6",
        rr["s_per_pair"],
        1.0,
        4 * 140_000 * 32,
        sum(pl.values()),
        2,
        max(pl.values()),
    )
    f = scale("distilbert", 350)
    gpl = {d: 140_000 * u["gpl_step"]["median_s"] * min(350, DOC_TOKENS[d]) / 300 * f for d in ("trec-covid", "fiqa")}
    add(
        "GPL training",
        "step (batch 32)",
        "distilbert",
        u["gpl_step"]["median_s"],
        f,
        280_000,
        sum(gpl.values()),
        2,
        max(gpl.values()),
    )
    epoch = -(-(CORPUS["msmarco"] + 502_982) // 4096)
    sae_s = 110 * epoch * u["sae_step"]["median_s"]
    add(
        "SAE training",
        "step",
        "(preset size)",
        u["sae_step"]["median_s"],
        1.0,
        110 * epoch,
        sae_s,
        8,
        20 * epoch * u["sae_step"]["median_s"],
    )

    print("| stage | unit (model) | measured s/unit | × FLOPs | count | CPU-hours | jobs | longest job (h) |")
    print("|---|---|---|---|---|---|---|---|")
    total = 0.0
    for stage, unit, arch, c, f, n, work, jobs, longest in rows:
        total += work
        print(
            f"| {stage} | {unit} ({arch}) | {c:.4g} | {f:.2f} | {n:,.0f} | {work / 3600:,.0f} | {jobs} | "
            f"{longest / 3600:,.0f} |"
        )
    print(f"| all | | | | | {total / 3600:,.0f} | | |")
    for n in gpus:
        wall = sum(max(-(-jobs // n) * work / jobs, longest) for *_, work, jobs, longest in rows)
        print(f"wall on {n} worker(s): {wall / 3600:,.0f} CPU-equivalent hours")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "results/bench/paper_cost.json"))
    ap.add_argument("--data", default=str(REPO.parent / "shared/data/beir"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--encode-docs", type=int, default=300, help="documents per timed encoding call")
    ap.add_argument("--ig-pairs", type=int, default=2)
    ap.add_argument("--nig-long", type=int, default=1, help="NIG pairs at 512 tokens")
    ap.add_argument("--gpl-steps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat, tiny counts (a smoke test of the script)")
    ap.add_argument("--only", default="encode,ig,cross,gpl,sae", help="units to measure (cross: rerank, ablation, NIG)")
    ap.add_argument(
        "--table", nargs="+", metavar="JSON", help="measure nothing: print the cost table (later files override units)"
    )
    a = ap.parse_args()
    if a.table:
        res = {"units": {}}
        for f in a.table:
            res["units"].update(json.loads(Path(f).read_text())["units"])
        cost_table(res)
        return
    only = set(a.only.split(","))
    if a.quick:
        a.repeats, a.encode_docs, a.ig_pairs, a.gpl_steps = 1, 32, 1, 2

    import torch

    from irlens.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = Path(a.data)
    corpus, queries, pairs = texts(data)
    units: dict[str, dict] = {}
    t_all = time.time()

    from irlens.models import load_bi_encoder, load_cross_encoder

    # ---------------------------------------------------------------- encoding, 512 tokens
    model, _ = load_bi_encoder(MINILM, device="cpu", max_seq_length=512)
    tok = model.tokenizer
    ids = sorted(corpus)
    if "encode" in only:
        pick = [ids[i] for i in rng.choice(len(ids), size=a.encode_docs, replace=False)]
        docs = [corpus[d] for d in pick]
        ntok = [min(512, len(tok(t)["input_ids"])) for t in docs]
        from irlens.retrieval.encode import encode_texts

        log(f"encode: {len(docs)} documents, mean {np.mean(ntok):.0f} tokens")
        r = timed(lambda: encode_texts(model, docs, max_tokens=16384, max_batch=256, progress=False).shape, a.repeats)
        units["encode"] = {
            **r,
            "docs": len(docs),
            "mean_tokens": round(float(np.mean(ntok)), 1),
            "s_per_1k_docs": round(r["median_s"] / len(docs) * 1000, 2),
            "s_per_1M_tokens": round(r["median_s"] / sum(ntok) * 1e6, 1),
            "settings": "encode_texts, max_seq_length 512, max_tokens 16384 (preset 65536: batch size only)",
        }
        log(f"encode: {units['encode']['s_per_1k_docs']} s per 1k docs")

    # ---------------------------------------------------------------- IG (document and query side)
    if "ig" in only:
        from irlens.ig.bi_encoder import BiEncoderIG

        ig_cfg = preset_ig()
        ig = BiEncoderIG(model, score="cos", baseline="pad", max_tokens=16384, **ig_cfg)
        long_pairs = [p for p in pairs if len(tok(corpus[p[1]])["input_ids"]) >= 450][: a.ig_pairs]
        ig_tok = [min(512, len(tok(corpus[d])["input_ids"])) for _, d in long_pairs]
        for side in ("document", "query"):
            steps_seen: list[int] = []

            def run(side=side, steps_seen=steps_seen):
                out = [ig.attribute_pair(queries[q], corpus[d], side=side) for q, d in long_pairs]
                steps_seen[:] = [o.steps for o in out]
                return [round(o.rel_error, 5) for o in out]

            log(f"IG {side}: {len(long_pairs)} pairs, documents {ig_tok} tokens")
            r = timed(run, max(1, a.repeats - 1), warmup=side == "query")
            units[f"ig_{side}"] = {
                **r,
                "pairs": len(long_pairs),
                "doc_tokens": ig_tok,
                "points_per_pair": steps_seen,
                "s_per_pair": round(r["median_s"] / len(long_pairs), 3),
                "settings": f"BiEncoderIG(score=cos, baseline=pad, {ig_cfg})",
            }
            log(f"IG {side}: {units[f'ig_{side}']['s_per_pair']} s/pair, points {steps_seen}")
    model = None  # free it before the cross-encoder

    # ---------------------------------------------------------------- cross-encoder: rerank, NIG, ablation
    if "cross" in only:
        torch.manual_seed(0)
        ce, _ = load_cross_encoder(MINILM, device="cpu", max_length=512)
        ce.model.eval()
        rel_q = [q for q, _ in pairs if q.startswith("nfcorpus/")][:2]
        cand = rng.choice(len(ids), size=100, replace=False)
        cand_docs = [corpus[ids[i]] for i in cand]
        lens = ce.pair_lengths([queries[rel_q[0]]] * 100, cand_docs)
        log(f"rerank: 100 candidates, mean {lens.mean():.0f} pair tokens")

        def rerank():
            return float(ce.score([queries[rel_q[0]]] * 100, cand_docs, max_tokens=65536, max_batch=128).mean())

        r = timed(rerank, a.repeats)
        units["rerank"] = {
            **r,
            "candidates": 100,
            "mean_pair_tokens": round(float(lens.mean()), 1),
            "s_per_query": r["median_s"],
            "s_per_pair": round(r["median_s"] / 100, 4),
            "settings": "CrossEncoder.score, max_length 512, max_tokens 65536, max_batch 128",
        }
        log(f"rerank: {r['median_s']} s per query of 100")

        # ablation: one query's 20 BM25-like candidates + 1 relevant, random 1 % masks of every module
        from irlens.ablation.masks import NeuronMask
        from irlens.ablation.scorer import MaskedScorer
        from irlens.attribution.neurons import neuron_layout

        widths = {n.module: n.units for n in neuron_layout(ce.model)}

        def random_mask(frac=0.01):
            return NeuronMask(
                {m: rng.choice(w, size=max(1, int(frac * w)), replace=False).tolist() for m, w in widths.items()}
            )

        for tag, maxlen in (("512", 512), ("128", 128)):
            ce.max_length = maxlen
            q = queries[rel_q[0]]
            sdocs = cand_docs[:21]
            scorer = MaskedScorer(ce, [q] * 21, sdocs, max_rows=256, cache_mb=2048)
            scorer.original()
            masks = [random_mask() for _ in range(4)]
            r = timed(lambda scorer=scorer, masks=masks: scorer.score(masks).shape, a.repeats, warmup=False)
            plen = float(ce.pair_lengths([q] * 21, sdocs).mean())
            units[f"ablation_{tag}"] = {
                **r,
                "pairs": 21,
                "masks": len(masks),
                "mean_pair_tokens": round(plen, 1),
                "s_per_mask_per_query": round(r["median_s"] / len(masks), 3),
                "s_per_pair_mask": round(r["median_s"] / len(masks) / 21, 5),
                "settings": "MaskedScorer(max_rows=256, cache_mb=2048), random 1 % of every module "
                f"(layer 0: no prefix saving), max_length {maxlen}",
            }
            log(f"ablation {tag}: {units[f'ablation_{tag}']['s_per_mask_per_query']} s per mask per 21-pair query")
        ce.max_length = 512

        # NIG at 100 steps, pad-all, richardson
        from irlens.nig.attribute import CrossEncoderNIG

        nig = CrossEncoderNIG(
            ce.model, ce.tokenizer, baseline="pad-all", steps=100, rule="richardson", max_tokens=16384
        )
        long_nig = [p for p in pairs if len(tok(corpus[p[1]])["input_ids"]) >= 500][: a.nig_long]
        short_nig = pairs[:2]
        for tag, sel, maxlen in (("512", long_nig, 512), ("128", short_nig, 128)):
            ce.max_length = maxlen
            feats = [ce.features([queries[q]], [corpus[d]]) for q, d in sel]
            ntoks = [int(f["input_ids"].shape[1]) for f in feats]
            log(f"NIG {tag}: {len(sel)} pairs, {ntoks} tokens, 100 steps")

            def run_nig(feats=feats):
                return [float(np.median(nig.attribute(f, [1]).rel_error)) for f in feats]

            r = timed(run_nig, 1 if tag == "512" else a.repeats, warmup=tag == "128")
            units[f"nig_{tag}"] = {
                **r,
                "pairs": len(sel),
                "pair_tokens": ntoks,
                "s_per_pair": round(r["median_s"] / len(sel), 2),
                "settings": "CrossEncoderNIG(baseline=pad-all, steps=100, rule=richardson, max_tokens=16384)",
            }
            log(f"NIG {tag}: {units[f'nig_{tag}']['s_per_pair']} s/pair")
        ce.max_length = 512
        nig = ce = None

    # ---------------------------------------------------------------- GPL training step (batch 32, 350 tokens)
    if "gpl" in only:
        from irlens.gpl.train import train_gpl

        sf = data / "scifact"
        sf_ids = [k.split("/", 1)[1] for k in ids if k.startswith("scifact/")]
        sf_q = sorted(k.split("/", 1)[1] for k in queries if k.startswith("scifact/"))
        with tempfile.TemporaryDirectory() as tmp:
            td = Path(tmp) / "train.tsv"
            need = a.gpl_steps * 32
            with open(td, "w") as fh:
                for i in range(need):
                    p, n = rng.choice(len(sf_ids), size=2, replace=False)
                    fh.write(f"{sf_q[i % len(sf_q)]}\t{sf_ids[p]}\t{sf_ids[n]}\t{rng.normal():.4f}\n")
            stamps: list[float] = []
            before = load()
            t0 = time.perf_counter()
            train_gpl(
                MINILM,
                sf,
                sf / "queries.jsonl",
                td,
                Path(tmp) / "out",
                steps=a.gpl_steps,
                batch_size=32,
                max_length=350,
                warmup_steps=1000,
                threads=a.threads,
                device="cpu",
                progress=False,
                on_step=lambda s, loss: stamps.append(time.perf_counter()),
            )
            per = np.diff([t0, *stamps])
            timed_steps = per[1:] if len(per) > 1 else per  # the first step pays for loading and allocation
            units["gpl_step"] = {
                "median_s": round(float(np.median(timed_steps)), 3),
                "runs_s": [round(float(x), 3) for x in per],
                "load_before": before,
                "load_after": load(),
                "settings": "train_gpl(batch_size=32, max_length=350) on SciFact texts (random margins); first step "
                "(model load) left out of the median",
            }
            log(f"GPL: {units['gpl_step']['median_s']} s/step")
        torch.set_num_threads(a.threads)

    # ---------------------------------------------------------------- SAE training step (paper preset size)
    if "sae" in only:
        from irlens.sae.config import TrainConfig
        from irlens.sae.model import TopKSAE
        from irlens.sae.train import batch_losses

        cfg = TrainConfig.recommended(n_latents=32768, k=128, epochs=20, batch=4096, batch_queries=1024)
        d = 768
        nr, nq = cfg.batch, cfg.batch_queries
        B = nr + nq * (1 + cfg.n)
        g = torch.Generator().manual_seed(0)
        X = torch.nn.functional.normalize(torch.randn(B * 2, d, generator=g), dim=1)
        m = TopKSAE(cfg.sae_config(d), seed=0)
        m.init_pre_bias(X[:4000])
        opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=6.25e-10, fused=True)

        def sae_step():
            xb = X[torch.randint(0, X.shape[0], (B,), generator=g)]
            vals, idx, xh, pre = m.forward_codes(xb)
            loss = sum(batch_losses(m, cfg, xb, xh, (vals, idx), pre, nr, nq, 1.0).values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            m.project_decoder_grad()
            opt.step()
            m.normalize_decoder()
            m.update_fired_codes(vals.detach(), idx)

        log(f"SAE: {B} rows x {cfg.n_latents} latents, K {cfg.k}, d {d}")
        r = timed(sae_step, a.repeats)
        units["sae_step"] = {
            **r,
            "rows": B,
            "settings": "TrainConfig.recommended(n_latents=32768, k=128, batch=4096, batch_queries=1024), d=768, "
            "random unit vectors, TopKSAE.forward_codes + batch_losses + fused Adam (as bench/sae_step.py)",
        }
        log(f"SAE: {r['median_s']} s/step")

    out = {
        "threads": a.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "model": MINILM,
        "repeats": a.repeats,
        "seconds_total": round(time.time() - t_all, 1),
        "units": units,
        "flop_scale": {f"{arch}@{T}": round(scale(arch, T), 2) for arch in ARCH for T in (128, 350, 512)},
        "note": "scaled figures are extrapolations by forward FLOPs per token, not measurements",
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    print("RESULT " + " ".join(f"{k}_s={v['median_s']}" for k, v in units.items()) + f" total_s={out['seconds_total']}")


if __name__ == "__main__":
    main()
