"""``irlens ablation {evalset,run,merge,table,figure,dose}``: prune NIG-selected neurons vs random neurons and
measure nDCG@10 (arXiv 2406.19309 §5.3, Table 4), and the dose–response of one scheme on the pairs NIG
attributed; what workflow/rules/ablation.smk calls."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from irlens.cli.common import add_cross_encoder_args, load_cross_encoder_from_args
from irlens.errors import IrlensError
from irlens.io import read_parquet, write_parquet

log = logging.getLogger("irlens")


def cmd_evalset(a: argparse.Namespace) -> None:
    """``irlens ablation evalset``: the evaluation set (:func:`irlens.ablation.evalset.build_eval_set`) and a
    .json summary."""
    from irlens.ablation.evalset import build_eval_set
    from irlens.data.beir import load_beir
    from irlens.io import write_json

    ds = load_beir(a.data, [a.split])
    exclude = set()
    for p in a.exclude_pairs or []:
        exclude |= set(read_parquet(p, "NIG pairs table", columns=("qid",))["qid"].astype(str))
    df = build_eval_set(
        ds,
        a.split,
        a.queries,
        a.depth,
        a.seed,
        exclude_qids=exclude,
        max_relevant=a.max_relevant,
        k1=a.k1,
        b=a.b,
        threads=a.threads or 1,
    )
    write_parquet(df, a.out)
    write_json(
        Path(a.out).with_suffix(".json"),
        {
            "dataset": a.dataset,
            "split": a.split,
            "queries": int(df["qid"].nunique()),
            "pairs": len(df),
            "depth": a.depth,
            "max_relevant": a.max_relevant,
            "excluded_queries": len(exclude),
            "seed": a.seed,
            "role": a.role,
        },
    )
    log.info("wrote %s: %d queries, %d pairs", a.out, df["qid"].nunique(), len(df))


def cmd_run(a: argparse.Namespace) -> None:
    """``irlens ablation run``: per-query nDCG@10 of the original, scheme-pruned and random-pruned models for one
    shard of the repeats (:func:`irlens.ablation.study.plan`, :func:`irlens.ablation.study.run_masks`)."""
    from irlens.ablation.scorer import MaskedScorer
    from irlens.ablation.study import plan, run_masks, scheme_masks
    from irlens.data.beir import doc_text, load_beir
    from irlens.io import write_json

    if a.repeats < 1:
        raise IrlensError(f"ablation: repeats must be >= 1 (got {a.repeats}); set ablation.repeats")
    ev = read_parquet(a.evalset, "ablation evaluation set", columns=("qid", "doc_id", "grade"))
    sets = read_parquet(a.sets, "NIG scheme sets", columns=("scheme", "level", "module", "unit"))
    ds = load_beir(a.data, [])
    missing = sorted(set(ev["qid"]) - set(ds.queries)) + sorted(set(ev["doc_id"]) - set(ds.corpus))
    if missing:
        raise IrlensError(
            f"{a.evalset}: ids {missing[:3]} are not in {a.data}; rebuild the evaluation set (ablation_evalset rule)"
        )
    scheme_masks(sets, a.schemes, a.levels)  # bad names fail before the model loads
    ce, resolved = load_cross_encoder_from_args(a)
    t0 = time.perf_counter()
    queries, docs = [ds.queries[q] for q in ev["qid"]], [doc_text(ds.corpus[d]) for d in ev["doc_id"]]
    scorer = MaskedScorer(ce, queries, docs, max_rows=a.max_rows, cache_mb=a.cache_mb)
    specs = plan(sets, a.schemes, a.levels, scorer.widths, a.repeats, a.seed, a.shard, a.shards)
    nonempty = sum(1 for s in specs if s.mask.size)
    log.info(
        "ablation %s: shard %d/%d, %d masks (%d non-empty) x %d pairs (%d queries)",
        a.evalset,
        a.shard,
        a.shards,
        len(specs),
        nonempty,
        len(ev),
        ev["qid"].nunique(),
    )
    df = run_masks(scorer, ev, specs, progress=True)
    secs = time.perf_counter() - t0
    write_parquet(df, a.out)
    write_json(
        Path(a.out).with_suffix(".json"),
        {
            "masks": len(specs),
            "non_empty_masks": nonempty,
            "pairs": len(ev),
            "seconds": round(secs, 2),
            "seconds_per_mask": round(secs / max(1, nonempty), 4),
            "model": a.model,
            "model_sha256": resolved.sha256,
            "shard": a.shard,
            "shards": a.shards,
            "prefix_cache": scorer.prefix_cache,
        },
    )
    log.info(
        "wrote %s: %d masks in %.0f s (%.3f s per non-empty mask)", a.out, len(specs), secs, secs / max(1, nonempty)
    )


def cmd_merge(a: argparse.Namespace) -> None:
    """``irlens ablation merge``: combine the shards of one evaluation set (:func:`irlens.ablation.study.merge`)."""
    from irlens.ablation.study import SHARD_COLUMNS, merge

    parts = []
    for p in a.inputs:
        parts.append(read_parquet(p, "ablation shard", columns=SHARD_COLUMNS))
    df = merge(parts, a.repeats)
    write_parquet(df, a.out)
    log.info("merged %d shards into %s (%d rows)", len(a.inputs), a.out, len(df))


def _named(items: list[str], what: str, key: str = "evaluation set") -> list[tuple[str, str]]:
    """``--<what> <name>=<value>`` arguments → ``[(name, value), ...]`` (one-line error otherwise)."""
    out = []
    for it in items:
        name, sep, path = it.partition("=")
        if not sep or not name or not path:
            raise IrlensError(f"--{what} '{it}': expected <{key}>=<path>")
        out.append((name, path))
    return out


def _roles(items: list[str] | None) -> dict:
    """``--role <evaluation set>=ID|OOD`` arguments → ``{evaluation set: role}``."""
    return dict(_named(items or [], "role"))


def cmd_table(a: argparse.Namespace) -> None:
    """``irlens ablation table``: Table 4 as markdown, CSV and LaTeX (:func:`irlens.ablation.report.write_table4`)."""
    from irlens.ablation.report import write_table4
    from irlens.ablation.study import load_stats

    stats, _ = load_stats(_named(a.input, "input"))
    write_table4(stats, a.md, a.csv, a.tex, roles=_roles(a.role), note=a.note or "", correction=a.correction)
    log.info("wrote %s, %s, %s", a.md, a.csv, a.tex)


def cmd_figure(a: argparse.Namespace) -> None:
    """``irlens ablation figure``: drop per scheme against the random repeats
    (:func:`irlens.ablation.report.figure_drops`)."""
    from irlens.ablation.report import figure_drops
    from irlens.ablation.study import load_stats

    stats, drops = load_stats(_named(a.input, "input"))
    figure_drops(stats, drops, a.out, title=a.title, correction=a.correction)
    log.info("wrote %s.png/.pdf", a.out)


def _dose_pairs(paths: list[str], members: list[str], data: dict):
    """The pairs of the NIG sets ``members`` ("<dataset>:<label>") from the merged NIG pairs tables ``paths``
    (``all.pairs.parquet`` of ``irlens nig merge``; tables of other sets are skipped): a frame with dataset, qid,
    doc_id, label, target, in ``members`` order then pair order."""
    import pandas as pd

    found = {}
    for p in paths:
        t = read_parquet(
            p, "NIG pairs table", "'irlens nig merge' (the nig_merge rule)", columns=("qid", "doc_id", "label")
        )
        if t.empty:
            continue
        if "dataset" not in t.columns:
            raise IrlensError(f"{p}: no dataset column, so not a merged NIG pairs table; rerun the nig_merge rule")
        for (d, lb), part in t.groupby(["dataset", "label"], sort=False):
            key = f"{d}:{lb}"
            if key in found:
                raise IrlensError(f"{p}: NIG set {key} is given twice (--pairs); give each all.pairs.parquet once")
            found[key] = part
    lacking = [m for m in members if m not in found]
    if lacking:
        raise IrlensError(
            f"dose-response: no NIG pairs for {', '.join(lacking)} among --pairs; add results/nig/<ce>/<dataset>/"
            "<label>/all.pairs.parquet"
        )
    df = pd.concat([found[m] for m in members], ignore_index=True)
    nodata = sorted(set(df["dataset"]) - set(data))
    if nodata:
        raise IrlensError(f"dose-response: no --data <dataset>=<folder> for {', '.join(nodata)}")
    df["target"] = (df["label"] == "relevant").astype(int)
    return df


def cmd_dose(a: argparse.Namespace) -> None:
    """``irlens ablation dose``: Δ P(target label) of the pairs NIG attributed for one scheme as its top-n neurons
    are zeroed, n = ``--counts``, vs as many random neurons in the same modules (:mod:`irlens.ablation.dose`);
    parquet (+ .json timing), markdown + CSV table and a PNG + PDF figure."""
    import numpy as np

    from irlens.ablation.dose import (
        TargetScorer,
        correct_counts,
        dose_response,
        scheme_members,
        scheme_ranking,
        write_dose,
    )
    from irlens.ablation.scorer import MaskedScorer
    from irlens.data.beir import doc_text, load_beir
    from irlens.io import read_json, write_json
    from irlens.nig.schemes import pretty

    if a.repeats < 1:
        raise IrlensError(f"dose-response: --repeats must be >= 1 (got {a.repeats}); set ablation.dose.repeats")
    if not a.counts or min(a.counts) < 1:
        raise IrlensError(
            f"dose-response: --counts must be positive integers (got {a.counts}); set ablation.dose.counts"
        )
    d = Path(a.schemes_dir)
    made = "'irlens nig schemes' (the nig_schemes rule)"
    if not (d / "roles.json").is_file():
        raise IrlensError(f"{d / 'roles.json'}: NIG scheme roles not found; run {made} first")
    roles = read_json(d / "roles.json")
    values = read_parquet(
        d / "values.parquet", "NIG scheme values", made, columns=("module", "unit", "layer", "component")
    )
    ranked = scheme_ranking(values, a.scheme, roles.get("rank_by", "value"))
    members = scheme_members(a.scheme, (roles.get("pairs") or {}).keys())
    data = dict(_named(a.data, "data", "dataset"))
    pairs = _dose_pairs(a.pairs, members, data)
    if a.max_pairs and len(pairs) > a.max_pairs:
        keep = np.sort(np.random.default_rng([int(a.seed), len(pairs)]).choice(len(pairs), a.max_pairs, replace=False))
        pairs = pairs.iloc[keep].reset_index(drop=True)
    sets = {ds: load_beir(folder, []) for ds, folder in data.items() if ds in set(pairs["dataset"])}
    miss = [
        f"{r.dataset}:{r.qid}/{r.doc_id}"
        for r in pairs.itertuples()
        if r.qid not in sets[r.dataset].queries or r.doc_id not in sets[r.dataset].corpus
    ]
    if miss:
        raise IrlensError(
            f"dose-response: pairs {', '.join(miss[:3])} are not in their --data folder; rerun the NIG stage on it"
        )
    ce, resolved = load_cross_encoder_from_args(a)
    t0 = time.perf_counter()
    queries = [sets[r.dataset].queries[r.qid] for r in pairs.itertuples()]
    docs = [doc_text(sets[r.dataset].corpus[r.doc_id]) for r in pairs.itertuples()]
    scorer = TargetScorer(
        MaskedScorer(ce, queries, docs, max_rows=a.max_rows, cache_mb=a.cache_mb), pairs["target"], ce.num_labels
    )
    counts = sorted({n for n in a.counts if n <= len(ranked)})
    log.info(
        "dose-response of %s: %d pairs (%s), counts %s of %d neurons, %d random draws each (%d masks)",
        a.scheme,
        len(pairs),
        ", ".join(members),
        counts,
        len(ranked),
        a.repeats,
        len(counts) * (a.repeats + 1),
    )
    table = dose_response(scorer, ranked, counts, a.repeats, a.seed)
    secs = time.perf_counter() - t0
    table.insert(1, "pct_neurons", 100.0 * table["n"] / len(ranked))
    table.insert(0, "scheme", a.scheme)
    table = correct_counts(table, a.correction)
    write_dose(
        table,
        a.out,
        a.md,
        a.csv,
        a.figure,
        a.scheme,
        members,
        len(ranked),
        levels=roles.get("levels") or (),
        method=a.correction,
        title=a.title or f"Dose–response of {pretty(a.scheme)}",
    )
    masks = len(table) * (a.repeats + 1)
    write_json(
        Path(a.out).with_suffix(".json"),
        {
            "scheme": a.scheme,
            "members": members,
            "pairs": len(pairs),
            "neurons": len(ranked),
            "counts": [int(n) for n in table["n"]],
            "repeats": a.repeats,
            "masks": masks,
            "seconds": round(secs, 2),
            "seconds_per_mask": round(secs / max(1, masks), 4),
            "correction": a.correction,
            "model": a.model,
            "model_sha256": resolved.sha256,
            "prefix_cache": scorer.scorer.prefix_cache,
        },
    )
    log.info(
        "wrote %s, %s, %s.png: %d masks in %.0f s (%.3f s per mask)",
        a.out,
        a.md,
        a.figure,
        masks,
        secs,
        secs / max(1, masks),
    )


def _add_correction(
    p: argparse.ArgumentParser, over: str = "the t-test (and empirical) p-values over the whole table"
) -> None:
    p.add_argument(
        "--correction",
        choices=("holm", "bh", "none"),  # irlens.ablation.stats.CORRECTIONS (not imported: it loads numpy)
        default="holm",
        help=f"multiple-testing correction of {over}: holm (family-wise error), bh (Benjamini-Hochberg false "
        "discovery rate) or none",
    )


def add_parser(sub) -> None:
    """Register ``irlens ablation ...`` on the top-level subparsers ``sub``."""
    ab = sub.add_parser("ablation", help="prune NIG-selected vs random neurons, nDCG@10 and t-tests (Table 4)")
    s = ab.add_subparsers(dest="ablation_cmd", required=True)

    p = s.add_parser("evalset", help="queries (not used by NIG) with their relevant passages + BM25 top-depth")
    p.add_argument("--data", required=True, help="BEIR dataset folder")
    p.add_argument("--dataset", required=True, help="dataset name (stored in the .json summary)")
    p.add_argument("--split", required=True, help="qrels split the queries come from")
    p.add_argument("--role", default="", help="ID or OOD (shown in the table)")
    p.add_argument("--exclude-pairs", action="append", help="NIG pairs parquet whose queries are left out (repeat)")
    p.add_argument("--queries", type=int, default=0, help="queries drawn with --seed (0 = all)")
    p.add_argument("--depth", type=int, default=20, help="BM25 passages per query (the paper: 20)")
    p.add_argument(
        "--max-relevant", type=int, default=0, help="relevant passages kept per query, highest grades first (0 = all)"
    )
    p.add_argument("--k1", type=float, default=0.9, help="BM25 k1")
    p.add_argument("--b", type=float, default=0.4, help="BM25 b")
    p.add_argument("--seed", type=int, default=42, help="seed of the query draw")
    p.add_argument("--threads", type=int, default=None, help="BM25 threads (default 1)")
    p.add_argument("--out", required=True, help="evaluation-set parquet (+ .json summary)")
    p.set_defaults(func=cmd_evalset)

    p = s.add_parser(
        "run",
        help="per-query nDCG@10 of the original, scheme-pruned and random-pruned models (one shard of the repeats)",
    )
    add_cross_encoder_args(p)
    p.add_argument("--data", required=True, help="dataset folder (texts of the evaluation set)")
    p.add_argument("--evalset", required=True, help="evaluation-set parquet of 'irlens ablation evalset'")
    p.add_argument("--sets", required=True, help="sets.parquet of 'irlens nig schemes'")
    p.add_argument(
        "--schemes",
        nargs="+",
        required=True,
        help="NIG schemes to prune (names as in sets.parquet, e.g. P:<dataset>, AND_O:N, F_A)",
    )
    p.add_argument(
        "--levels", type=float, nargs="+", required=True, help="top-X %% levels to prune (among the NIG levels)"
    )
    p.add_argument("--repeats", type=int, default=50, help="random repeats per scheme and level")
    p.add_argument("--seed", type=int, default=42, help="seed of the random masks")
    p.add_argument("--shard", type=int, default=0, help="this job's shard of the random repeats (0-based)")
    p.add_argument("--shards", type=int, default=1, help="number of shards")
    p.add_argument("--max-rows", type=int, default=64, help="rows (pairs x masks) per forward")
    p.add_argument("--cache-mb", type=float, default=2048, help="memory for cached hidden states (0 = off)")
    p.add_argument("--out", required=True, help="per-query parquet (+ .json timing)")
    p.set_defaults(func=cmd_run)

    p = s.add_parser("merge", help="combine the shards of one evaluation set (checks completeness)")
    p.add_argument("--inputs", nargs="+", required=True, help="shard parquets of 'irlens ablation run'")
    p.add_argument("--repeats", type=int, default=50, help="expected random repeats per scheme and level")
    p.add_argument("--out", required=True, help="merged parquet")
    p.set_defaults(func=cmd_merge)

    p = s.add_parser(
        "table", help="Table 4: markdown, CSV (all statistics, corrected p-values, effect sizes) and LaTeX"
    )
    p.add_argument("--input", action="append", required=True, help="<evaluation set>=<merged parquet> (repeat)")
    p.add_argument("--role", action="append", help="<evaluation set>=ID|OOD (repeat)")
    p.add_argument("--note", default="", help="text appended under the markdown table")
    p.add_argument("--md", required=True, help="markdown table")
    p.add_argument("--csv", required=True, help="CSV with every statistic")
    p.add_argument("--tex", required=True, help="LaTeX table")
    _add_correction(p)
    p.set_defaults(func=cmd_table)

    p = s.add_parser("figure", help="drop per scheme with the random repeats' distribution (PNG + PDF)")
    p.add_argument("--input", action="append", required=True, help="<evaluation set>=<merged parquet> (repeat)")
    p.add_argument("--title", default="", help="title shown on the figure")
    p.add_argument("--out", required=True, help="output prefix (.png and .pdf)")
    _add_correction(p)
    p.set_defaults(func=cmd_figure)

    p = s.add_parser(
        "dose",
        help="dose-response: score change of the pairs NIG attributed as a scheme's top-n neurons are zeroed, "
        "vs random neurons of the same modules",
    )
    add_cross_encoder_args(p)
    p.add_argument(
        "--schemes-dir", required=True, help="output folder of 'irlens nig schemes' (values.parquet, roles.json)"
    )
    p.add_argument(
        "--scheme", required=True, help="a scheme with values of its own: P:<dataset>, N:<dataset>, F:<dataset>, F_A"
    )
    p.add_argument(
        "--pairs",
        nargs="+",
        required=True,
        help="merged NIG pairs tables (<dataset>/<label>/all.pairs.parquet); those of the scheme's sets are used",
    )
    p.add_argument(
        "--data", action="append", required=True, help="<dataset>=<BEIR folder> (texts of the pairs; repeat)"
    )
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5, 21, 50, 207, 1000], help="neurons zeroed")
    p.add_argument("--repeats", type=int, default=20, help="random masks per count")
    p.add_argument("--seed", type=int, default=42, help="seed of the random masks (and of the --max-pairs draw)")
    p.add_argument("--max-pairs", type=int, default=0, help="pairs re-scored, a seeded draw (0 = all)")
    p.add_argument("--max-rows", type=int, default=64, help="rows (pairs x masks) per forward")
    p.add_argument("--cache-mb", type=float, default=2048, help="memory for cached hidden states (0 = off)")
    p.add_argument("--title", default="", help="title shown on the figure")
    p.add_argument("--out", required=True, help="dose table parquet (+ .json timing)")
    p.add_argument("--md", required=True, help="markdown table (with what the sample can show)")
    p.add_argument("--csv", required=True, help="CSV table")
    p.add_argument("--figure", required=True, help="figure prefix (.png and .pdf)")
    _add_correction(p, "the empirical p-values over the counts")
    p.set_defaults(func=cmd_dose)
