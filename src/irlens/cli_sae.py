"""``irlens sae {train,evaluate}``: sparse autoencoders over cached dense embeddings (issue 9,
arXiv 2411.00786)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from irlens.errors import IrlensError

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
    from irlens.cli import _set_threads
    from irlens.sae.data import load_train_part
    from irlens.sae.train import build_train_data, save_model, train_sae

    _set_threads(a.threads)
    cfg = _config(a)
    excl = _exclusions(a.exclude_qrels)
    names = [Path(e).name for e in a.embeddings]
    stray = sorted(set(excl) - set(names))
    if stray:
        raise IrlensError(f"--exclude-qrels names {', '.join(stray)} match no --embeddings folder ({', '.join(names)})")
    parts = [load_train_part(e, excl.get(n)) for e, n in zip(a.embeddings, names)]
    for p in parts:
        log.info("SAE data %s: %d documents, %d training queries (%d left out)", p["name"], len(p["corpus"]), 0 if p["queries"] is None else len(p["queries"]), p.get("queries_excluded", 0))
    data = build_train_data(parts, n=cfg.n, doc_anchors=cfg.anchors == "queries+docs")
    model, record = train_sae(data, cfg)
    record["exclude_qrels"] = list(a.exclude_qrels or [])
    save_model(model, record, a.out)
    log.info("wrote %s (%.0f s training)", a.out, record["train_seconds"])


def cmd_evaluate(a: argparse.Namespace) -> None:
    from irlens.cli import _set_threads
    from irlens.io import write_json
    from irlens.sae.data import load_eval_set
    from irlens.sae.model import TopKSAE
    from irlens.sae.retrieval import evaluate_sae

    _set_threads(a.threads)
    model, meta = TopKSAE.load(a.model)
    if a.refine_steps is not None:
        if a.refine_steps < 0:
            raise IrlensError(f"--refine-steps {a.refine_steps}: must be >= 0")
        model.cfg.refine_steps = a.refine_steps
    corpus, doc_ids, queries, qids, qrels = load_eval_set(a.embeddings, a.qrels)
    if corpus.shape[1] != model.cfg.d_model:
        raise IrlensError(f"{a.embeddings}: embeddings have width {corpus.shape[1]}, the SAE in {a.model} expects {model.cfg.d_model}")
    out = evaluate_sae(model, corpus, doc_ids, queries, qids, qrels, depth=a.depth)
    out.update({"model": str(a.model), "embeddings": str(a.embeddings), "qrels": str(a.qrels), "sae": meta.get("sae"), "train": meta.get("train"), "train_seconds": meta.get("train_seconds")})
    write_json(a.out, out)
    r = out["retrieval"]
    log.info("nDCG@10 dense %.4f, reconstructed %.4f (%.1f%%), latent %.4f (%.1f%%); FVU %.4f, L0 %.1f, dead %.2f%%", r["dense"]["ndcg@10"], r["reconstructed"]["ndcg@10"], 100 * out["ratio_ndcg@10"]["reconstructed"], r["latent"]["ndcg@10"], 100 * out["ratio_ndcg@10"]["latent"], out["reconstruction"]["all"]["fvu"], out["reconstruction"]["all"]["l0"], out["reconstruction"]["all"]["dead_pct"])


def add_parser(sub) -> None:
    sae = sub.add_parser("sae", help="sparse autoencoders over dense retrieval embeddings")
    ss = sae.add_subparsers(dest="sae_cmd", required=True)

    p = ss.add_parser("train", help="train a TopK SAE on cached corpus + query embeddings")
    p.add_argument("--embeddings", action="append", required=True, help="folder with corpus.npy (+ queries.npy) from 'irlens encode'; repeat for several datasets")
    p.add_argument("--exclude-qrels", action="append", default=[], help="<folder name>=<qrels.tsv>: leave out that folder's queries judged in the qrels (evaluation queries); repeatable")
    p.add_argument("--preset", choices=["recommended", "plain"], default="recommended", help="base settings: 'recommended' (irlens.sae.train.RECOMMENDED) or 'plain' (FVU-only TopK SAE, the TrainConfig defaults)")
    p.add_argument("--config", help="YAML/JSON mapping of training settings over the preset; flags override it")
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
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="metrics JSON")
    p.set_defaults(func=cmd_evaluate)
