"""The ablation study (arXiv 2406.19309 §5.3, Table 4): prune NIG-selected neurons and, as a baseline,
the same number of random neurons in the same modules (``repeats`` draws), rerank an evaluation set,
compare per-query nDCG@10 with the original model.

Masks are named by ``(kind, scheme, level, repeat)``: ``kind`` is ``original``, ``scheme`` (the top-X %
set of a NIG scheme, ``repeat`` = -1) or ``random`` (``repeat`` = 0..R-1). A random mask's units are
drawn from a generator seeded by ``(seed, scheme, level, repeat)`` only, so any sharding of the repeats
gives the same masks, and both evaluation sets see the same pruned models.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from irlens.ablation.masks import NeuronMask, random_like
from irlens.ablation.stats import paired_ttest
from irlens.errors import IrlensError

log = logging.getLogger(__name__)

ORIGINAL, SCHEME, RANDOM = "original", "scheme", "random"
#: Columns of a shard (and of the merged table) of ``irlens ablation run``.
SHARD_COLUMNS = ("kind", "scheme", "level", "repeat", "qid", "ndcg")
METRIC = "ndcg_cut_10"


@dataclass
class MaskSpec:
    """One mask of the study, named by ``(kind, scheme, level, repeat)`` (see the module docstring)."""

    kind: str
    scheme: str
    level: float
    repeat: int
    mask: NeuronMask


def scheme_masks(sets: pd.DataFrame, schemes: list[str], levels: list[float]) -> list[MaskSpec]:
    """The top-``level`` % set of each scheme as a mask (from ``sets.parquet`` of the NIG stage).

    A scheme whose set is empty at a level (e.g. an intersection at 0.01 %) gives an empty mask.
    """
    have = set(sets["scheme"].unique())
    kinds = {s.split(":")[0] for s in have if re.fullmatch(r"[PNF]:.+", s)}
    # intersections may be empty at every level and then have no rows at all, but only over sets that exist:
    # with nig.unjudged_negatives: exclude there is no N or F set, and AND_A:N would silently be an empty mask
    missing = [s for s in schemes if s not in have and not (re.fullmatch(r"AND_[AO]:[PNF]", s) and s[-1] in kinds)]
    if missing:
        raise IrlensError(
            f"ablation schemes {', '.join(missing)} are not in the NIG sets (have: {', '.join(sorted(have))}); fix "
            "ablation.schemes in the config"
        )
    have_levels = set(np.round(sets["level"].unique(), 6))
    bad = [lv for lv in levels if round(float(lv), 6) not in have_levels]
    if bad:
        raise IrlensError(
            f"ablation levels {bad} are not among the NIG levels {sorted(have_levels)}; fix ablation.levels (or "
            "nig.levels)"
        )
    out = []
    for s in schemes:
        for lv in levels:
            rows = sets[(sets["scheme"] == s) & np.isclose(sets["level"], lv)]
            out.append(MaskSpec(SCHEME, s, float(lv), -1, NeuronMask.from_neurons(rows, f"{s}@{lv}")))
    return out


def random_generator(seed: int, scheme: str, level: float, repeat: int) -> np.random.Generator:
    """The generator of one random repeat: depends on nothing but its name (shard-independent)."""
    return np.random.default_rng([int(seed), zlib.crc32(scheme.encode()), int(round(level * 1e6)), int(repeat)])


def random_masks(schemes: list[MaskSpec], widths: dict[str, int], repeats: list[int], seed: int) -> list[MaskSpec]:
    """For each scheme mask and repeat: as many random units in each of the same modules."""
    out = []
    for sp in schemes:
        for r in repeats:
            m = random_like(
                sp.mask, widths, random_generator(seed, sp.scheme, sp.level, r), f"random:{sp.scheme}@{sp.level}#{r}"
            )
            out.append(MaskSpec(RANDOM, sp.scheme, sp.level, int(r), m))
    return out


def shard_repeats(repeats: int, shard: int, shards: int) -> list[int]:
    """Repeats of one shard (round robin); shard 0 also evaluates the original and the scheme masks."""
    if shards < 1 or not 0 <= shard < shards:
        raise IrlensError(f"ablation shard {shard} of {shards}: need 0 <= shard < shards")
    return list(range(shard, repeats, shards))


def plan(
    sets: pd.DataFrame,
    schemes: list[str],
    levels: list[float],
    widths: dict[str, int],
    repeats: int,
    seed: int,
    shard: int = 0,
    shards: int = 1,
) -> list[MaskSpec]:
    """Every mask of one shard, the original (empty mask) first."""
    sch = scheme_masks(sets, schemes, levels)
    specs = [MaskSpec(ORIGINAL, "", float("nan"), -1, NeuronMask({}, ORIGINAL))] + sch if shard == 0 else []
    return specs + random_masks(sch, widths, shard_repeats(repeats, shard, shards), seed)


def per_query_ndcg(evalset: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
    """nDCG@10 (pytrec_eval) of each query for each score row: ``[n_rows, n_queries]`` in sorted-qid order.

    ``scores[i]`` holds one score per row of ``evalset``; the judgements are the candidates' ``grade``
    column, so the ideal ranking is the best ordering of the candidate list (a reranking metric).
    """
    import pytrec_eval

    qids = sorted(evalset["qid"].unique())
    q, d, g = evalset["qid"].tolist(), evalset["doc_id"].tolist(), evalset["grade"].astype(int).tolist()
    qrels: dict[str, dict[str, int]] = {x: {} for x in qids}
    for qq, dd, gg in zip(q, d, g):
        qrels[qq][dd] = gg
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    out = np.zeros((len(scores), len(qids)))
    for i, row in enumerate(np.atleast_2d(scores)):
        run: dict[str, dict[str, float]] = {}
        for qq, dd, s in zip(q, d, row):
            run.setdefault(qq, {})[dd] = float(s)
        res = evaluator.evaluate(run)
        out[i] = [res[x][METRIC] for x in qids]
    return out


def run_masks(scorer, evalset: pd.DataFrame, specs: list[MaskSpec], progress: bool = False) -> pd.DataFrame:
    """Per-query nDCG@10 of every mask: rows ``(kind, scheme, level, repeat, n_neurons, qid, ndcg)``."""
    scores = scorer.score([s.mask for s in specs], progress=progress)
    ndcg = per_query_ndcg(evalset, scores)
    qids = sorted(evalset["qid"].unique())
    n = len(qids)
    return pd.DataFrame(
        {
            "kind": np.repeat([s.kind for s in specs], n),
            "scheme": np.repeat([s.scheme for s in specs], n),
            "level": np.repeat([s.level for s in specs], n),
            "repeat": np.repeat([s.repeat for s in specs], n).astype(np.int64),
            "n_neurons": np.repeat([s.mask.size for s in specs], n).astype(np.int64),
            "qid": np.tile(qids, len(specs)),
            "ndcg": ndcg.reshape(-1),
        }
    )


def merge(parts: list[pd.DataFrame], repeats: int | None = None) -> pd.DataFrame:
    """Concatenate shard tables in a canonical order; checks that nothing is missing or doubled."""
    df = pd.concat(parts, ignore_index=True)
    key = ["kind", "scheme", "level", "repeat", "qid"]
    if df.duplicated(key).any():
        raise IrlensError(
            "ablation merge: the same mask appears in two shards (shards of different runs mixed?); rerun the shards"
        )
    if (df["kind"] == ORIGINAL).sum() == 0:
        raise IrlensError("ablation merge: no original-model rows (shard 0 missing)")
    if repeats is not None:
        got = df[df["kind"] == RANDOM].groupby(["scheme", "level"])["repeat"].nunique().to_dict()
        combos = df.loc[df["kind"] == SCHEME, ["scheme", "level"]].drop_duplicates().itertuples(index=False)
        short = {f"{s}@{lv}": got.get((s, lv), 0) for s, lv in combos if got.get((s, lv), 0) != repeats}
        if short:
            raise IrlensError(
                f"ablation merge: expected {repeats} random repeats per scheme and level, got {short}; rerun the "
                "missing shards"
            )
    order = {ORIGINAL: 0, SCHEME: 1, RANDOM: 2}
    df = df.assign(_k=df["kind"].map(order)).sort_values(["_k", "scheme", "level", "repeat", "qid"], kind="stable")
    return df.drop(columns="_k").reset_index(drop=True)


def summarise(df: pd.DataFrame, evalset: str = "") -> pd.DataFrame:
    """One row per (scheme, level): the scheme's % drop of mean nDCG@10 with its paired t-test against the
    original model (:func:`irlens.ablation.stats.paired_ttest`: two-sided, over the queries; raw p, the mean
    per-query difference ``mean_diff`` = pruned − original with its 95 % CI, d_z; ``test_defined`` False and
    p = NaN when the differences are constant and non-zero, ``test_note`` says why), and the random repeats'
    drops (mean, sd, 5th/95th percentiles, how many have an uncorrected p ≤ 0.05), the scheme's z-score in
    that distribution and its one-sided empirical p-value ``(1 + #repeats dropping at least as much) / (1 +
    repeats)``. The correction for multiple tests is applied over the whole table by
    :func:`irlens.ablation.report.correct`."""
    orig = df[df["kind"] == ORIGINAL].sort_values("qid")["ndcg"].to_numpy()
    rows = []
    for (scheme, level), g in df[df["kind"] == SCHEME].groupby(["scheme", "level"], sort=False):
        s = g.sort_values("qid")
        st = paired_ttest(orig, s["ndcg"].to_numpy())
        rnd = df[(df["kind"] == RANDOM) & (df["scheme"] == scheme) & (df["level"] == level)]
        rd, rp = [], []
        for _, r in rnd.groupby("repeat"):
            t = paired_ttest(orig, r.sort_values("qid")["ndcg"].to_numpy())
            rd.append(-t["pct_diff"])
            rp.append(t["p"])
        rd, rp = np.asarray(rd), np.asarray(rp)
        drop = -st["pct_diff"]
        sd = float(rd.std(ddof=1)) if len(rd) > 1 else float("nan")
        rows.append(
            {
                "eval_set": evalset,
                "scheme": scheme,
                "level": float(level),
                "n_neurons": int(s["n_neurons"].iloc[0]),
                "queries": st["n"],
                "original": st["original"],
                "pruned": st["pruned"],
                "drop_pct": drop,
                "mean_diff": st["mean_diff"],
                "ci_low": st["ci_low"],
                "ci_high": st["ci_high"],
                "d_z": st["d_z"],
                "t": st["t"],
                "p": st["p"],
                "test_defined": st["defined"],
                "test_note": st["note"],
                "repeats": len(rd),
                "random_drop_mean": float(rd.mean()) if len(rd) else float("nan"),
                "random_drop_sd": sd,
                "random_drop_q05": float(np.quantile(rd, 0.05)) if len(rd) else float("nan"),
                "random_drop_q95": float(np.quantile(rd, 0.95)) if len(rd) else float("nan"),
                "random_significant": int((rp <= 0.05).sum()),
                "z": (drop - rd.mean()) / sd if len(rd) > 1 and sd > 0 else float("nan"),
                "empirical_p": float((1 + (rd >= drop - 1e-12).sum()) / (1 + len(rd))) if len(rd) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def random_drops(df: pd.DataFrame) -> pd.DataFrame:
    """% drop of every random repeat: rows ``(scheme, level, repeat, drop_pct, p)`` (for the figure)."""
    orig = df[df["kind"] == ORIGINAL].sort_values("qid")["ndcg"].to_numpy()
    rows = []
    for (scheme, level, rep), r in df[df["kind"] == RANDOM].groupby(["scheme", "level", "repeat"], sort=False):
        t = paired_ttest(orig, r.sort_values("qid")["ndcg"].to_numpy())
        rows.append(
            {"scheme": scheme, "level": float(level), "repeat": int(rep), "drop_pct": -t["pct_diff"], "p": t["p"]}
        )
    return pd.DataFrame(rows, columns=["scheme", "level", "repeat", "drop_pct", "p"])


def load_stats(named_inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read merged ablation tables ``[(evaluation set, parquet path), ...]`` and summarise each one.

    Returns ``(stats, drops)``: :func:`summarise` of every set (its ``eval_set`` column the set's name),
    and :func:`random_drops` of every set with an ``eval_set`` column, each concatenated in input order.
    """
    from irlens.io import read_parquet

    stats, drops = [], []
    for name, path in named_inputs:
        df = read_parquet(path, "merged ablation table", "'irlens ablation merge'", columns=SHARD_COLUMNS)
        stats.append(summarise(df, name))
        drops.append(random_drops(df).assign(eval_set=name))
    return pd.concat(stats, ignore_index=True), pd.concat(drops, ignore_index=True)
