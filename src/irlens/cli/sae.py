"""``irlens sae {train,evaluate}``: sparse autoencoders over cached dense embeddings (issue 9,
arXiv 2411.00786)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


def _train_fields():
    from irlens.sae.train import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.name != "log_every"]


def _config(a: argparse.Namespace):
    """TrainConfig: ``--preset``, then ``--config`` (YAML/JSON mapping), then the flags given on the command line."""
    from irlens.sae.train import RECOMMENDED, TrainConfig

    values: dict = dict(RECOMMENDED) if a.preset == "recommended" else {}
    if a.config:
        import yaml

        p = Path(a.config)
        if not p.is_file():
            raise IrlensError(f"{p}: SAE config not found")
        given = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(given, dict):
            raise IrlensError(f"{p}: expected a mapping of TrainConfig fields")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise IrlensError(f"{p}: unknown SAE config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values.update(given)
    if a.settings:
        import json

        try:
            given = json.loads(a.settings)
        except json.JSONDecodeError as e:
            raise IrlensError(f"--settings: not a JSON mapping ({e.msg}); e.g. '{{\"k\": 32}}'") from None
        if not isinstance(given, dict):
            raise IrlensError("--settings: expected a JSON mapping of TrainConfig fields")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise IrlensError(f"--settings: unknown SAE setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values.update(given)
    for f in _train_fields():
        v = getattr(a, f.name)
        if v is not None:
            values[f.name] = v
    return TrainConfig(**values)


def _exclusions(specs: list[str]) -> dict[str, set[str]]:
    from irlens.data.beir import read_qrels

    out: dict[str, set[str]] = {}
    for s in specs or []:
        name, sep, path = s.partition("=")
        if not sep or not name or not path:
            raise IrlensError(f"--exclude-qrels '{s}': expected <embeddings folder name>=<qrels.tsv>")
        out.setdefault(name, set()).update(read_qrels(path))
    return out


def cmd_train(a: argparse.Namespace) -> None:
    from irlens.sae.data import load_train_part
    from irlens.sae.train import build_train_data, save_model, train_sae

    set_threads(a.threads)
    cfg = _config(a)
    excl = _exclusions(a.exclude_qrels)
    names = [Path(e).name for e in a.embeddings]
    stray = sorted(set(excl) - set(names))
    if stray:
        raise IrlensError(f"--exclude-qrels names {', '.join(stray)} match no --embeddings folder ({', '.join(names)})")
    parts = [load_train_part(e, excl.get(n), sentences=a.sentences) for e, n in zip(a.embeddings, names)]
    for p in parts:
        log.info("SAE data %s: %d documents, %d training queries (%d left out; %d of them corpus sentences)", p["name"], len(p["corpus"]), 0 if p["queries"] is None else len(p["queries"]), p.get("queries_excluded", 0), p.get("sentences", 0))
    data = build_train_data(parts, n=cfg.n, doc_anchors=cfg.anchors == "queries+docs")
    model, record = train_sae(data, cfg)
    record["exclude_qrels"] = list(a.exclude_qrels or [])
    save_model(model, record, a.out)
    log.info("wrote %s (%.0f s training)", a.out, record["train_seconds"])


def write_codes(model, folder: str | Path, out: str | Path) -> dict:
    """Top-k codes of every corpus and query row of an embeddings folder, saved as ``.npz`` (values,
    indices, ids) for the interpretation and control steps; returns them (ids as lists)."""
    import numpy as np

    from irlens.io import atomic_path
    from irlens.sae.data import _load
    from irlens.sae.metrics import encode_array

    folder = Path(folder)
    corpus, doc_ids, _ = _load(folder / "corpus.npy")
    dv, di, _ = encode_array(model, corpus)
    res = {"doc_vals": dv, "doc_idx": di, "doc_ids": list(doc_ids)}
    if (folder / "queries.npy").is_file():
        q, qids, _ = _load(folder / "queries.npy")
        qv, qi, _ = encode_array(model, q)
        res.update(query_vals=qv, query_idx=qi, query_ids=list(qids))
    with atomic_path(out, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: (np.array(v, dtype=str) if k.endswith("_ids") else v) for k, v in res.items()})
    return res


def read_codes(path: str | Path, folder: str | Path) -> dict:
    """Codes written by :func:`write_codes`, checked against the embeddings folder's ids."""
    import numpy as np

    from irlens.io import read_json

    path = Path(path)
    if not path.is_file():
        raise IrlensError(f"{path}: SAE codes not found; run 'irlens sae evaluate --codes-out' first")
    with np.load(path, allow_pickle=False) as z:
        res = {k: (z[k].tolist() if k.endswith("_ids") else z[k]) for k in z.files}
    side = read_json(Path(folder) / "corpus.json")
    ids = side.get("ids") if isinstance(side, dict) else None
    if ids is not None and list(ids) != res["doc_ids"]:
        raise IrlensError(f"{path}: codes were computed for other documents than {Path(folder) / 'corpus.json'}; rerun 'irlens sae evaluate'")
    return res


def cmd_evaluate(a: argparse.Namespace) -> None:
    from irlens.io import write_json
    from irlens.sae.data import load_eval_set
    from irlens.sae.model import TopKSAE
    from irlens.sae.retrieval import evaluate_sae

    set_threads(a.threads)
    model, meta = TopKSAE.load(a.model)
    if a.refine_steps is not None:
        if a.refine_steps < 0:
            raise IrlensError(f"--refine-steps {a.refine_steps}: must be >= 0")
        model.cfg.refine_steps = a.refine_steps
    if a.refine_momentum is not None:
        if not 0 <= a.refine_momentum < 1:
            raise IrlensError(f"--refine-momentum {a.refine_momentum}: must be in [0, 1)")
        model.cfg.refine_momentum = a.refine_momentum
    corpus, doc_ids, queries, qids, qrels = load_eval_set(a.embeddings, a.qrels)
    if corpus.shape[1] != model.cfg.d_model:
        raise IrlensError(f"{a.embeddings}: embeddings have width {corpus.shape[1]}, the SAE in {a.model} expects {model.cfg.d_model}")
    codes = None
    if a.codes_out:
        import numpy as np

        codes = write_codes(model, a.embeddings, a.codes_out)
        pick = np.array([codes["query_ids"].index(q) for q in qids], dtype=np.int64)
        qv, qi = codes["query_vals"][pick], codes["query_idx"][pick]
        codes = (codes["doc_vals"], codes["doc_idx"], _decode(model, codes["doc_vals"], codes["doc_idx"]), qv, qi, _decode(model, qv, qi))
    out = evaluate_sae(model, corpus, doc_ids, queries, qids, qrels, depth=a.depth, codes=codes)
    out.update({"model": str(a.model), "embeddings": str(a.embeddings), "qrels": str(a.qrels), "sae": meta.get("sae"), "train": meta.get("train"), "train_seconds": meta.get("train_seconds")})
    write_json(a.out, out)
    r = out["retrieval"]
    log.info("nDCG@10 dense %.4f, reconstructed %.4f (%.1f%%), latent %.4f (%.1f%%); FVU %.4f, L0 %.1f, dead %.2f%%", r["dense"]["ndcg@10"], r["reconstructed"]["ndcg@10"], 100 * out["ratio_ndcg@10"]["reconstructed"], r["latent"]["ndcg@10"], 100 * out["ratio_ndcg@10"]["latent"], out["reconstruction"]["all"]["fvu"], out["reconstruction"]["all"]["l0"], out["reconstruction"]["all"]["dead_pct"])


def _variant_specs(specs: list[str]) -> dict[str, str]:
    out = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name or not path:
            raise IrlensError(f"--eval '{s}': expected <variant>=<evaluation JSON>")
        if not Path(path).is_file():
            raise IrlensError(f"{path}: SAE evaluation not found; run 'irlens sae evaluate' first")
        out[name] = path
    return out


def cmd_table(a: argparse.Namespace) -> None:
    from irlens.sae.report import figure_variants, variants_table, write_variants_table

    evals = _variant_specs(a.eval)
    df = variants_table(evals)
    for name in list(a.sweep) + [x for p in a.pair for x in p.split(":")]:
        if name not in evals:
            raise IrlensError(f"--sweep/--pair names variant '{name}', which has no --eval")
    pairs = []
    for p in a.pair:
        on, sep, off = p.partition(":")
        if not sep:
            raise IrlensError(f"--pair '{p}': expected <λ on variant>:<λ off variant>")
        pairs.append((on, off))
    write_variants_table(df, a.md, a.csv, title=a.title)
    if a.figure:
        figure_variants(df, list(a.sweep), pairs, a.figure, title=a.title)
    log.info("wrote %s, %s%s (%d variants)", a.md, a.csv, f", {a.figure}" if a.figure else "", len(df))


def _decode(model, vals, idx):
    """Reconstructions ``x̂ [n, d]`` from saved top-k codes ``(values, indices) [n, k]``."""
    import torch

    with torch.no_grad():
        return model.decode(model.scatter(torch.from_numpy(vals), torch.from_numpy(idx))).numpy()


def _codes(model, x):
    from irlens.sae.metrics import encode_array

    return encode_array(model, x)


def frequent_latents(doc_vals, doc_idx, n_latents: int, n: int, min_df: int = 1, max_share: float = 1.0):
    """The ``n`` latents firing on the most documents, among those firing on ``min_df`` … ``max_share``·N
    documents; when fewer qualify, the least frequent of those firing on more than ``max_share``·N fill up."""
    import numpy as np

    df = np.bincount(doc_idx[doc_vals > 0], minlength=n_latents)
    ok = (df >= min_df) & (df <= max_share * len(doc_vals))
    order = np.lexsort((np.arange(n_latents), -df))
    out = [int(i) for i in order if ok[i]][:n]
    if len(out) < n:
        over = [int(i) for i in order[::-1] if df[i] > max_share * len(doc_vals)]
        out += over[: n - len(out)]
    return out


def cmd_interpret(a: argparse.Namespace) -> None:
    import numpy as np

    from irlens.data.beir import doc_text, read_corpus, read_queries
    from irlens.io import write_json
    from irlens.sae.report import latents_html
    from irlens.sae.data import _load
    from irlens.sae.interpret import describe_latents
    from irlens.sae.model import TopKSAE

    set_threads(a.threads)
    model, meta = TopKSAE.load(a.model)
    folder = Path(a.embeddings)
    corpus, doc_ids, _ = _load(folder / "corpus.npy")
    data = Path(a.data)
    docs = read_corpus(data / "corpus.jsonl")
    missing = [d for d in doc_ids[:50] if d not in docs]
    if missing:
        raise IrlensError(f"{data / 'corpus.jsonl'}: document '{missing[0]}' of {folder / 'corpus.json'} is not in this corpus; wrong --data for these embeddings?")
    texts = [doc_text(docs[d]) for d in doc_ids]
    codes = read_codes(a.codes, folder) if a.codes else write_codes(model, folder, Path(a.out_json).with_suffix(".codes.npz"))
    dv, di = codes["doc_vals"], codes["doc_idx"]
    latents = frequent_latents(dv, di, model.cfg.n_latents, a.latents, max_share=a.max_share)
    qkw = {}
    if "query_vals" in codes:
        queries = read_queries(data / "queries.jsonl")
        qids = codes["query_ids"]
        qkw = dict(query_vals=codes["query_vals"], query_idx=codes["query_idx"], query_ids=qids, query_texts=[queries.get(x, "") for x in qids])
    recs = describe_latents(latents, dv, di, doc_ids, texts, model.cfg.n_latents, n=a.top, words=a.words, **qkw)
    if a.encoder:
        from irlens.models.encoder import load_bi_encoder
        from irlens.sae.n2g import activation_fn, explain_latent, held_out_rows, score_explanation
        from tqdm import tqdm

        enc, _ = load_bi_encoder(a.encoder, a.local_dir or [], device=a.device)
        act = activation_fn(enc, model)
        rng = np.random.default_rng(a.seed)
        for r in tqdm(recs, desc="N2G", unit="latent", mininterval=10):
            top = [texts[doc_ids.index(d["id"])] for d in r["top_documents"][: a.n2g_examples]]
            ex = explain_latent(r["latent"], top, act)
            pos, neg = held_out_rows(dv, di, r["latent"], a.n2g_examples, a.n2g_eval, rng)
            ex["score"] = score_explanation(ex["patterns"], [texts[i] for i in pos], [texts[i] for i in neg])
            r["n2g"] = ex
    f1 = [r["n2g"]["score"]["f1"] for r in recs if "n2g" in r]
    out = {"model": str(a.model), "embeddings": str(folder), "latents": recs, "n2g_mean": ({k: float(np.mean([r["n2g"]["score"][k] for r in recs])) for k in ("precision", "recall", "f1")} if f1 else None)}
    write_json(a.out_json, out)
    note = f"SAE {a.model} ({model.cfg.n_latents} latents, K = {model.cfg.k}) over {folder}: the {len(recs)} latents firing on the most documents (at most {a.max_share:.0%} of them)."
    if f1:
        m = out["n2g_mean"]
        note += f" N2G patterns scored on held-out documents (the next {a.n2g_eval} firing vs as many random non-firing): mean precision {m['precision']:.2f}, recall {m['recall']:.2f}, F1 {m['f1']:.2f}."
    latents_html(recs, a.out_html, title=a.title or "SAE latents", note=note)
    log.info("wrote %s and %s (%d latents)", a.out_json, a.out_html, len(recs))


def cmd_control(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from irlens.sae.report import figure_control
    from irlens.report.tables import write_table
    from irlens.sae.control import amplification_curve, latent_target_set, prf_curve
    from irlens.sae.data import load_eval_set
    from irlens.sae.model import TopKSAE
    from irlens.sae.retrieval import as_embeddings, normalizing_encoder

    set_threads(a.threads)
    model, _ = TopKSAE.load(a.model)
    corpus, doc_ids, queries, qids, qrels = load_eval_set(a.embeddings, a.qrels)
    if a.codes:
        codes = read_codes(a.codes, a.embeddings)
        dv, di = codes["doc_vals"], codes["doc_idx"]
        dh = _decode(model, dv, di)
    else:
        dv, di, dh = _codes(model, corpus)
    dh = as_embeddings(dh, normalizing_encoder(corpus, queries))  # searched as in evaluate: δ = 0 of the PRF curve is its "reconstructed" run
    values = tuple(float(v) for v in a.values)
    latents = a.latent or frequent_latents(dv, di, model.cfg.n_latents, a.latents, min_df=a.targets, max_share=a.max_share)
    rows = []
    for lat in latents:
        targets = latent_target_set(dv, di, lat, a.targets)
        for r in amplification_curve(model, queries, dh, lat, targets, deltas=values, mode=a.mode, qrels=qrels, query_ids=qids, doc_ids=doc_ids):
            v = r.pop("delta" if a.mode == "add" else "scale")
            rows.append({"kind": "latent", "latent": lat, "op": "add" if a.mode == "add" else "scale", "value": v, "targets": len(targets), **r})
    for r in prf_curve(model, queries, qids, dh, doc_ids, dv, di, qrels, deltas=tuple(float(v) for v in (a.prf_values or (values if a.mode == "add" else (0.0, 0.05, 0.1, 0.2, 0.4)))), feedback_k=a.prf_feedback_k, feedback_latents=a.prf_latents):
        v = r.pop("delta")
        rows.append({"kind": "prf", "latent": -1, "op": "add", "value": v, "targets": 0, **r})
    df = pd.DataFrame(rows)
    write_table(df, a.md, a.csv, title=a.title or "SAE control: amplified latents and latent pseudo-relevance feedback", floatfmt=".4f")
    figure_control(df, a.figure, title=a.title or "")
    log.info("wrote %s, %s, %s (%d latents, %d values)", a.md, a.csv, a.figure, len(latents), len(values))


def add_parser(sub) -> None:
    """Register ``irlens sae ...`` on the top-level subparsers ``sub``."""
    sae = sub.add_parser("sae", help="sparse autoencoders over dense retrieval embeddings")
    ss = sae.add_subparsers(dest="sae_cmd", required=True)

    p = ss.add_parser("train", help="train a TopK SAE on cached corpus + query embeddings")
    p.add_argument("--embeddings", action="append", required=True, help="folder with corpus.npy (+ queries.npy) from 'irlens encode'; repeat for several datasets")
    p.add_argument("--exclude-qrels", action="append", default=[], help="<folder name>=<qrels.tsv>: leave out that folder's queries judged in the qrels (evaluation queries); repeatable")
    p.add_argument("--sentences", action="store_true", help="also train on each folder's sentences.npy (corpus sentences from 'irlens encode --side sentences') as extra pseudo-queries")
    p.add_argument("--preset", choices=["recommended", "plain"], default="recommended", help="base settings: 'recommended' (irlens.sae.train.RECOMMENDED) or 'plain' (FVU-only TopK SAE, the TrainConfig defaults)")
    p.add_argument("--config", help="YAML/JSON mapping of training settings over the preset; flags override it")
    p.add_argument("--settings", help="inline JSON mapping of training settings over --config (what the workflow passes)")
    for f in _train_fields():
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"(default {f.default})")
        else:
            typ = float if f.default is None or isinstance(f.default, float) else type(f.default)
            p.add_argument(flag, type=typ, default=None, help=f"(default {f.default})")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="model folder (model.safetensors + config.json)")
    p.set_defaults(func=cmd_train)

    p = ss.add_parser("evaluate", help="dense vs reconstructed vs latent retrieval; FVU, L0, dead latents")
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy and queries.npy")
    p.add_argument("--qrels", required=True, help="qrels of the evaluation queries (BEIR tsv)")
    p.add_argument("--depth", type=int, default=100, help="documents kept per query")
    p.add_argument("--refine-steps", type=int, default=None, help="IHT refinement steps of the codes (default: the model's refine_steps)")
    p.add_argument("--refine-momentum", type=float, default=None, help="IHT momentum in [0, 1) (default: the model's refine_momentum)")
    p.add_argument("--codes-out", help="also save the top-k codes of every corpus and query row (.npz) for 'sae interpret' / 'sae control'")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="metrics JSON")
    p.set_defaults(func=cmd_evaluate)

    p = ss.add_parser("table", help="variants table (K sweep, λ on/off) and its figure from 'sae evaluate' JSONs")
    p.add_argument("--eval", action="append", required=True, help="<variant>=<evaluation JSON>; repeat")
    p.add_argument("--sweep", nargs="*", default=[], help="variants of the K sweep (figure, left)")
    p.add_argument("--pair", action="append", default=[], help="<λ on>:<λ off> variants compared (figure, right); repeatable")
    p.add_argument("--title", default="SAE variants")
    p.add_argument("--md", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--figure", help="PNG (a PDF is written beside it)")
    p.set_defaults(func=cmd_table)

    p = ss.add_parser("interpret", help="browsable page of the most frequent latents: top documents/queries, enriched words, N2G")
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy (+ queries.npy) the latents are read on")
    p.add_argument("--data", required=True, help="BEIR folder with the texts of those embeddings")
    p.add_argument("--codes", help="codes from 'sae evaluate --codes-out' (default: computed here)")
    p.add_argument("--encoder", help="the bi-encoder that made the embeddings (HF id / folder): enables N2G explanations")
    p.add_argument("--local-dir", action="append", default=[], help="local model folder(s) searched first")
    p.add_argument("--device", default="auto")
    p.add_argument("--latents", type=int, default=24, help="how many latents (most frequent first)")
    p.add_argument("--max-share", type=float, default=0.5, help="skip latents firing on more than this share of documents")
    p.add_argument("--top", type=int, default=8, help="top documents / queries per latent")
    p.add_argument("--words", type=int, default=12, help="enriched words per latent")
    p.add_argument("--n2g-examples", type=int, default=5, help="top documents an N2G explanation is built from")
    p.add_argument("--n2g-eval", type=int, default=20, help="held-out firing documents (and as many non-firing) it is scored on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", default="")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-html", required=True)
    p.set_defaults(func=cmd_interpret)

    p = ss.add_parser("control", help="amplify latents (and latent pseudo-relevance feedback), decode, re-rank: curves")
    p.add_argument("--model", required=True)
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy and queries.npy")
    p.add_argument("--qrels", required=True, help="qrels of the evaluation queries")
    p.add_argument("--codes", help="codes from 'sae evaluate --codes-out' (default: computed here)")
    p.add_argument("--latent", type=int, action="append", default=[], help="latent(s) to amplify (default: --latents frequent ones)")
    p.add_argument("--latents", type=int, default=3)
    p.add_argument("--max-share", type=float, default=0.05, help="auto-picked latents fire on at most this share of documents")
    p.add_argument("--targets", type=int, default=20, help="target set: the latent's top-activating documents")
    p.add_argument("--mode", choices=["add", "scale"], default="add")
    p.add_argument("--values", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.4], help="δ (add) or α (scale) values")
    p.add_argument("--prf-feedback-k", type=int, default=4, help="PRF: feedback documents per query")
    p.add_argument("--prf-latents", type=int, default=4, help="PRF: strongest latents taken from each feedback document")
    p.add_argument("--prf-values", type=float, nargs="+", default=None, help="PRF: δ added to the feedback latents (default: --values in add mode, else 0 0.05 0.1 0.2 0.4)")
    p.add_argument("--title", default="")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--md", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--figure", required=True, help="PNG (a PDF is written beside it)")
    p.set_defaults(func=cmd_control)
