"""The Claims table of the report's landing page: every paper claim, its measured effect and a verdict.

Each ``claim_*`` function reads the table one stage writes and returns rows of :data:`COLUMNS`:

- ``claim``: the paper's claim; ``evidence``: which comparison (dataset, model, scheme);
- ``effect``: the measured effect; ``uncertainty``: its CI / corrected p (or why there is none);
- ``verdict``: :data:`SUPPORTED`, :data:`CONTRADICTED`, :data:`INCONCLUSIVE`, ``untestable here: ...``,
  :data:`DESCRIPTIVE` / :data:`DESCRIPTIVE_SINGLE` (no test possible) or :data:`NOT_RUN`;
- ``n_needed``: queries a test at α = 0.05 would need for 80 % power if the observed effect were the true
  one (NaN where not computable); ``source``: the file read.

A path of ``None`` (the stage is not configured) or a missing file gives one :data:`NOT_RUN` row; a file that
is not the stage's table raises one :class:`~irlens.errors.IrlensError` line naming it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from irlens.errors import IrlensError

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive at this size"
NOT_RUN = "not run"
DESCRIPTIVE = "descriptive (no test)"
DESCRIPTIVE_SINGLE = "descriptive (single run; spread over seeds not measured)"
ALPHA = 0.05
POWER = 0.8
COLUMNS = ["claim", "evidence", "effect", "uncertainty", "verdict", "n_needed", "source"]

CLAIM_GPL = "1. GPL improves retrieval on the target domain"
CLAIM_DOMAIN = "2. Adapted models attribute more to in-domain terms"
CLAIM_TITLE = "3. Adapted models attribute more to titles"
CLAIM_NIG = "4. NIG relevance neurons transfer ID→OOD"
CLAIM_ABLATION = "5. Pruning NIG neurons hurts more than pruning random ones"
CLAIM_SAE = "6. SAE latents keep retrieval effectiveness"
CLAIM_CONTROL = "7. Amplifying a latent steers the results"

#: what the markdown says under the table
RULES = (
    "Verdicts: *supported* / *contradicted* when the effect's 95% CI (or its corrected p ≤ 0.05) excludes 0 in "
    "the claimed / the opposite direction; *inconclusive at this size* otherwise, with `n_needed` = queries a "
    "paired test at α = 0.05 would need for 80% power if the observed effect were the true one; *untestable here* "
    "when a precondition fails (GPL: the teacher must be stronger than the student); *descriptive* where the "
    "pipeline measures no uncertainty; *not run* when the stage is not configured or its table is missing."
)


def _row(claim: str, evidence="", effect="", uncertainty="", verdict=NOT_RUN, n_needed=math.nan, source="") -> dict:
    return dict(zip(COLUMNS, (claim, evidence, effect, uncertainty, verdict, n_needed, str(source or ""))))


def _not_run(claim: str, path) -> dict | None:
    """A :data:`NOT_RUN` row when ``path`` is None (stage not configured) or missing, else None."""
    if path is None:
        return _row(claim, evidence="stage not configured")
    if not Path(path).is_file():
        return _row(claim, evidence=f"table missing: {path}", source=path)
    return None


def read_table(path, needed, what: str, numeric=()) -> pd.DataFrame:
    """The CSV at ``path`` with at least the columns ``needed``, the columns ``numeric`` as numbers (empty
    cells: NaN); else one-line :class:`IrlensError` naming the file."""
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise IrlensError(
            f"{path}: not a readable CSV ({str(e).splitlines()[0] if str(e) else type(e).__name__}); expected {what}"
        ) from None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise IrlensError(f"{path}: not {what} (no column {', '.join(missing)}); rerun the stage that writes it")
    for c in numeric:
        try:
            df[c] = pd.to_numeric(df[c]).astype(float)
        except (TypeError, ValueError):
            raise IrlensError(f"{path}: column {c} holds a value that is not a number; expected {what}") from None
    return df


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _int(x) -> int:
    v = _num(x)
    return 0 if math.isnan(v) or math.isinf(v) else int(v)


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def n_for_power_d(d_z: float, power: float = POWER, alpha: float = ALPHA) -> float:
    """Queries a two-sided paired t-test needs for ``power`` at effect size ``d_z`` (NaN when undefined)."""
    from irlens.ablation.stats import n_for_power

    if d_z is None or math.isnan(d_z):
        return math.nan
    return float(n_for_power(d_z, power, alpha))


def n_from_ci(diff: float, lo: float, hi: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float:
    """Approximate queries needed for ``power`` when a mean difference ``diff`` has a 95 % CI [lo, hi] over
    ``n`` queries: the per-query sd is (hi − lo) / (2 · 1.96) · √n, then the normal-approximation sample size."""
    from scipy import stats

    if n < 2 or any(math.isnan(v) for v in (diff, lo, hi)) or hi <= lo:
        return math.nan
    if diff == 0:
        return math.inf
    sd = (hi - lo) / (2 * stats.norm.ppf(0.975)) * math.sqrt(n)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(math.ceil((z * sd / abs(diff)) ** 2))


def ci_verdict(lo: float, hi: float) -> str:
    """:data:`SUPPORTED` when the CI lies above 0, :data:`CONTRADICTED` below 0, else :data:`INCONCLUSIVE`."""
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


GPL_COLUMNS = ("dataset", "metric", "base_model", "adapted_model", "base", "adapted", "diff", "t", "p", "n")


def claim_gpl(path) -> list[dict]:
    """Claim 1 from ``reports/tables/gpl/base-vs-adapted.csv`` (``irlens gpl evaluate``): per (dataset,
    adapted model) the nDCG@10 difference adapted − base, its 95 % CI (from t and n), the paired t-test's
    p Holm-corrected over the claim's rows. ``untestable here`` unless ``teacher_stronger`` is true."""
    from scipy import stats

    from irlens.ablation.stats import holm

    if (r := _not_run(CLAIM_GPL, path)) is not None:
        return [r]
    df = read_table(
        path,
        GPL_COLUMNS,
        "a base-vs-adapted table of 'irlens gpl evaluate'",
        ("base", "adapted", "diff", "t", "p", "n"),
    )
    df = df[df["metric"] == "ndcg@10"].reset_index(drop=True)
    if not len(df):
        return [_row(CLAIM_GPL, evidence="no nDCG@10 row", source=path)]
    p_adj = holm(df["p"].to_numpy(dtype=float))
    rows = []
    for i, r in df.iterrows():
        diff, t, n, p = _num(r["diff"]), _num(r["t"]), _int(r["n"]), p_adj[i]
        ok_t = n > 1 and not math.isnan(t) and t != 0
        half = abs(diff / t) * stats.t.ppf(0.975, n - 1) if ok_t else math.nan
        lo, hi = diff - half, diff + half
        d_z = t / math.sqrt(n) if n > 1 and not math.isnan(t) else math.nan
        effect = f"nDCG@10 {_num(r['base']):.3f} → {_num(r['adapted']):.3f} (Δ {diff:+.4f}, n = {n})"
        ci = "95% CI n/a" if math.isnan(half) else f"95% CI [{lo:+.4f}, {hi:+.4f}]"
        unc = f"{ci}, p {_p(p)} (Holm over {len(df)})"
        evidence = f"{r['dataset']}: {r['adapted_model']} vs {r['base_model']}"
        stronger = str(r.get("teacher_stronger", "not checked")).strip().lower()
        if stronger != "true":
            ts = (
                f"teacher {_num(r.get('teacher_ndcg@10')):.3f} vs student {_num(r.get('student_ndcg@10')):.3f}, "
                f"Δ {_num(r.get('teacher_diff')):+.3f} [{_num(r.get('teacher_ci_low')):+.3f}, "
                f"{_num(r.get('teacher_ci_high')):+.3f}], n = {_int(r.get('teacher_n'))}; "
                f"teacher_stronger: {stronger}"
                if stronger != "not checked"
                else "teacher check not run"
            )
            why = "teacher weaker than student" if stronger == "false" else "teacher not shown stronger than student"
            verdict, need = f"untestable here: {why} ({ts})", math.nan
        elif not math.isnan(p) and p <= ALPHA:
            verdict, need = (SUPPORTED if diff > 0 else CONTRADICTED), math.nan
        else:
            verdict, need = INCONCLUSIVE, n_for_power_d(d_z)
        rows.append(_row(CLAIM_GPL, evidence, effect, unc, verdict, need, path))
    return rows


IG_COLUMNS = ("dataset", "side", "measure", "base", "model", "queries", "difference", "ci_low", "ci_high")


def _ig(path, adapted):
    df = read_table(
        path,
        IG_COLUMNS,
        "a paired-differences table of 'irlens ig tables'",
        ("queries", "difference", "ci_low", "ci_high"),
    )
    if adapted:
        df = df[df["model"].isin(list(adapted))]
    return df


def _ig_cell(r) -> tuple[str, str, str, float]:
    """(effect, uncertainty, CI verdict, n needed) of one paired-differences row."""
    d, lo, hi, n = _num(r["difference"]), _num(r["ci_low"]), _num(r["ci_high"]), _int(r["queries"])
    effect = f"{_num(r.get('base_mean')):.3f} → {_num(r.get('model_mean')):.3f} (Δ {d:+.4f}, {n} queries)"
    unc = f"95% bootstrap CI [{lo:+.4f}, {hi:+.4f}] (uncorrected)"
    v = ci_verdict(lo, hi)
    return effect, unc, v, (n_from_ci(d, lo, hi, n) if v == INCONCLUSIVE else math.nan)


def claim_domain(path, adapted=None) -> list[dict]:
    """Claim 2 from ``reports/tables/ig/paired_differences.csv``: per (dataset, model, side) the share of
    positive attribution on in-domain terms, model − base, with its bootstrap CI over queries. ``adapted``:
    only these models (None: every model compared with the base)."""
    if (r := _not_run(CLAIM_DOMAIN, path)) is not None:
        return [r]
    df = _ig(path, adapted)
    df = df[df["measure"] == "domain_positive_share"]
    if not len(df):
        return [_row(CLAIM_DOMAIN, evidence="no domain_positive_share row (no adapted model compared)", source=path)]
    rows = []
    for _, r in df.iterrows():
        effect, unc, v, need = _ig_cell(r)
        ev = f"{r['dataset']} ({r['side']}): {r['model']} − {r['base']}"
        rows.append(_row(CLAIM_DOMAIN, ev, "domain share " + effect, unc, v, need, path))
    return rows


def claim_title(path, adapted=None) -> list[dict]:
    """Claim 3 from ``reports/tables/ig/paired_differences.csv``: per (dataset, model) the title's share of
    positive attribution (documents with a title), model − base; beside it the positional control (the same
    share of the first n words of documents without a title, and of titled documents with the title
    stripped), which should not rise if the effect is about titles rather than position. A title shift whose
    CI lies above 0 is *supported* only when no positional control rises significantly as well with a CI
    reaching the title's (then: inconclusive, position alone rises too)."""
    if (r := _not_run(CLAIM_TITLE, path)) is not None:
        return [r]
    df = _ig(path, adapted)
    main = df[(df["measure"] == "title_positive_share") & (df["side"] == "document")]
    if not len(main):
        return [_row(CLAIM_TITLE, evidence="no title_positive_share row (no titled documents?)", source=path)]
    rows = []
    for _, r in main.iterrows():
        effect, unc, v, need = _ig_cell(r)
        ctrl = df[
            (df["dataset"] == r["dataset"])
            & (df["model"] == r["model"])
            & (df["measure"] == "pseudo_title_positive_share")
        ]
        notes = []
        positional = False  # position alone rises significantly, as far as the title share (overlapping CIs)
        for _, c in ctrl.iterrows():
            what = "untitled first-n" if c["side"] != "document" else "first-n of untitled docs"
            notes.append(f"{what} Δ {_num(c['difference']):+.4f} [{_num(c['ci_low']):+.4f}, {_num(c['ci_high']):+.4f}]")
            positional |= _num(c["ci_low"]) > 0 and _num(r["ci_low"]) <= _num(c["ci_high"])
        control = "; positional control: " + ("; ".join(notes) if notes else "not measured")
        if v == SUPPORTED and positional:
            v, need = f"{INCONCLUSIVE}: position alone rises too (the CIs overlap)", math.nan
        ev = f"{r['dataset']}: {r['model']} − {r['base']}"
        rows.append(_row(CLAIM_TITLE, ev, "title share " + effect, unc + control, v, need, path))
    return rows


def _levels(columns) -> list[tuple[str, float]]:
    out = []
    for c in columns:
        if isinstance(c, str) and c.endswith("%"):
            try:
                out.append((c, float(c[:-1])))
            except ValueError:
                continue
    return out


def set_size(n_neurons: int, level: float) -> int:
    """Neurons in a top-``level`` % set: :func:`irlens.nig.schemes.set_size`, repeated here so that the report
    env needs no torch (irlens.nig imports the NIG model code; tests/report/test_claims.py checks they agree)."""
    return max(1, int(round(n_neurons * level / 100.0)))


def overlap_p(k: int, n_neurons: int, m: int) -> float:
    """One-sided p of an overlap of at least ``k`` neurons between two sets of ``m`` neurons each when one of
    them were a uniformly random ``m``-subset of the ``n_neurons`` (hypergeometric upper tail P(X ≥ k))."""
    from scipy import stats

    return float(stats.hypergeom.sf(k - 1, n_neurons, m, m))


def claim_nig(path) -> list[dict]:
    """Claim 4 from ``reports/tables/nig/<ce>/intersections.csv``: for each ID/OOD pair of relevant sets,
    |P_ID ∩ P_OOD| as % of the top-X % set at each level, beside chance (two independent random sets of that
    size overlap by X % of the set on average).

    With the table's ``neurons`` column, each level's overlap is tested against that chance model
    (:func:`overlap_p`), Holm-corrected over every (pair, level) of the claim: *supported* when a corrected
    p ≤ 0.05. The null is "random sets", so the test says the sets share more neurons than chance would, not
    why (neurons with large conductance on every input would also do it); it treats the sets as fixed, so
    the variation from which pairs were attributed is not in it. Without the column: descriptive."""
    from irlens.ablation.stats import holm

    if (r := _not_run(CLAIM_NIG, path)) is not None:
        return [r]
    df = read_table(path, ("label", "kind", "curve"), "an intersections table of 'irlens nig schemes'")
    levels = _levels(df.columns)
    if not levels:
        raise IrlensError(f"{path}: not an intersections table of 'irlens nig schemes' (no level column like '1%')")
    sel = df[(df["label"] == "relevant") & (df["kind"] == "ID/OOD")]
    if not len(sel):
        return [
            _row(CLAIM_NIG, "no ID/OOD pair of relevant sets", verdict="untestable here: no OOD dataset", source=path)
        ]
    n = _int(sel["neurons"].iloc[0]) if "neurons" in sel else 0
    tests = []  # (row index, level column, p)
    if n > 0:
        for i, r in sel.iterrows():
            for c, lv in levels:
                m = set_size(n, lv)
                k = int(round(_num(r[c]) / 100 * m))
                tests.append((i, c, overlap_p(k, n, m)))
    p_adj = dict(zip([(i, c) for i, c, _ in tests], holm([p for *_, p in tests]))) if tests else {}
    rows = []
    for i, r in sel.iterrows():
        cells = [f"{_num(r[c]):.1f}% at {c} (chance {lv:g}%, ×{_num(r[c]) / lv:.1f})" for c, lv in levels]
        if not p_adj:
            unc, verdict = "none (one set per dataset)", DESCRIPTIVE
        else:
            ps = [p_adj[(i, c)] for c, _ in levels]
            unc = (
                f"Holm p vs random sets of {n} neurons: "
                + ", ".join(f"{_p(p)} at {c}" for p, (c, _) in zip(ps, levels))
                + " (sets fixed; pair sampling not included)"
            )
            verdict = SUPPORTED if min(ps) <= ALPHA else INCONCLUSIVE
        rows.append(_row(CLAIM_NIG, r["curve"], "; ".join(cells), unc, verdict, source=path))
    return rows


ABLATION_COLUMNS = (
    "eval_set",
    "scheme",
    "level",
    "n_neurons",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_adj",
    "empirical_p_adj",
    "n_needed",
    "test_defined",
)


ABLATION_NUMERIC = ("level", "n_neurons", "mean_diff", "ci_low", "ci_high", "p_adj", "empirical_p_adj", "n_needed")


def claim_ablation(path) -> list[dict]:
    """Claim 5 from ``reports/tables/ablation/<ce>/table4.csv``: a cell (eval set, scheme, level) counts when
    pruning drops nDCG@10 (mean_diff < 0) with the t-test's corrected p ≤ 0.05 **and** the empirical p against
    the random repeats, corrected the same way, ≤ 0.05. Supported when any cell counts; else inconclusive with
    the fewest queries any dropping cell would need."""
    if (r := _not_run(CLAIM_ABLATION, path)) is not None:
        return [r]
    df = read_table(path, ABLATION_COLUMNS, "a Table 4 CSV of 'irlens ablation table'", ABLATION_NUMERIC)
    defined = df["test_defined"].astype(str).str.lower().isin(["true", "1"])
    cells = df[(df["n_neurons"] > 0) & defined]
    m = len(cells)
    if not m:
        return [_row(CLAIM_ABLATION, "no cell with a defined test", verdict=INCONCLUSIVE, source=path)]
    corr = str(df["correction"].iloc[0]) if "correction" in df else "holm"
    drop = cells["mean_diff"] < 0
    sig = drop & (cells["p_adj"] <= ALPHA)
    both = sig & (cells["empirical_p_adj"] <= ALPHA)
    best = cells[drop].sort_values(["p_adj", "empirical_p_adj"]) if drop.any() else cells.sort_values("p_adj")
    b = best.iloc[0]
    effect = (
        f"best cell {b['eval_set']} / {b['scheme']} @ {_num(b['level']):g}%: Δ nDCG@10 {_num(b['mean_diff']):+.4f} "
        f"[{_num(b['ci_low']):+.4f}, {_num(b['ci_high']):+.4f}], p_adj {_p(_num(b['p_adj']))}, "
        f"empirical p_adj {_p(_num(b['empirical_p_adj']))}"
    )
    unc = f"{int(sig.sum())} of {m} cells drop significantly after {corr}; {int(both.sum())} also beat random"
    if both.any():
        verdict, need = SUPPORTED, math.nan
    else:
        needs = cells.loc[drop, "n_needed"].astype(float)
        verdict, need = INCONCLUSIVE, (float(needs.min()) if len(needs.dropna()) else math.nan)
    ev = ", ".join(sorted(map(str, cells["eval_set"].unique())))
    return [_row(CLAIM_ABLATION, f"eval sets: {ev}", effect, unc, verdict, need, path)]


def claim_sae(path) -> list[dict]:
    """Claim 6 from ``reports/tables/sae/<model>/variants.csv``: retrieval over the latents (encoder codes)
    as a share of the dense model's nDCG@10, of variant ``main`` — mean ± sd over main and its seed replicas
    ``main-s<seed>`` when ``sae.seeds`` trained them — with the range over the other variants. Descriptive:
    the paper states no threshold to test against."""
    if (r := _not_run(CLAIM_SAE, path)) is not None:
        return [r]
    df = read_table(
        path, ("variant", "dense_ndcg@10", "latent_ndcg@10", "latent_pct"), "a variants table of 'irlens sae table'"
    )
    from irlens.report.tables import replicate_runs, replicate_summary

    main = df[df["variant"] == "main"]
    r = (main if len(main) else df).iloc[0]
    summ = replicate_summary(df, "main", ("latent_pct", "recon_pct")).set_index("column") if len(main) else None
    n = int(summ.loc["latent_pct", "n"]) if summ is not None and "latent_pct" in summ.index else 1
    if n > 1:
        lat = summ.loc["latent_pct"]
        effect = f"latent nDCG@10 = {lat['mean']:.1f} ± {lat['sd']:.1f}% of dense {_num(r['dense_ndcg@10']):.3f}"
        if "recon_pct" in summ.index:
            rec = summ.loc["recon_pct"]
            effect += f"; reconstruction {rec['mean']:.1f} ± {rec['sd']:.1f}%"
        unc = f"mean ± sd over {n} seeds; latent range {lat['min']:.1f}–{lat['max']:.1f}%"
        verdict = f"descriptive (no test; spread over {n} seeds)"
    else:
        effect = (
            f"latent nDCG@10 {_num(r['latent_ndcg@10']):.3f} = {_num(r['latent_pct']):.1f}% of dense "
            f"{_num(r['dense_ndcg@10']):.3f}"
        )
        if "recon_pct" in df:
            effect += f"; reconstruction {_num(r['recon_pct']):.1f}%"
        unc, verdict = "none", DESCRIPTIVE_SINGLE
    ev = f"variant {r['variant']}"
    others = df.drop(replicate_runs(df, "main").index) if len(main) else df.iloc[1:]
    if len(others):
        pct = others["latent_pct"].astype(float)
        ev += f" (other variants: latent {pct.min():.1f}–{pct.max():.1f}% of dense)"
    return [_row(CLAIM_SAE, ev, effect, unc, verdict, source=path)]


def claim_control(path) -> list[dict]:
    """Claim 7 from ``reports/tables/sae/<model>/control.csv``: for the amplified latents, the mean P@10 of each
    latent's target documents (and nDCG@10 on the qrels) at no edit vs the largest edit. Descriptive."""
    if (r := _not_run(CLAIM_CONTROL, path)) is not None:
        return [r]
    df = read_table(path, ("kind", "latent", "op", "value", "p@10"), "a control table of 'irlens sae control'")
    lat = df[df["kind"] == "latent"]
    if not len(lat):
        return [_row(CLAIM_CONTROL, "no latent amplified", source=path)]
    rows = []
    for op, g in lat.groupby("op", sort=True):
        neutral = 0.0 if op == "add" else 1.0
        vals = sorted(g["value"].astype(float).unique())
        v0 = neutral if np.isclose(vals, neutral).any() else vals[0]
        v1 = max(vals, key=lambda v: abs(v - v0))
        at0 = g[np.isclose(g["value"].astype(float), v0)]
        at1 = g[np.isclose(g["value"].astype(float), v1)]
        effect = f"target P@10 {at0['p@10'].mean():.3f} → {at1['p@10'].mean():.3f}"
        if "ndcg@10" in g:
            effect += f"; nDCG@10 {at0['ndcg@10'].mean():.3f} → {at1['ndcg@10'].mean():.3f}"
        rnd = df[(df["kind"] == "random") & (df["op"] == op)]
        if len(rnd):
            r1 = rnd[np.isclose(rnd["value"].astype(float), v1)]
            effect += f"; a random latent of similar frequency amplified instead: target P@10 → {r1['p@10'].mean():.3f}"
        ev = f"{g['latent'].nunique()} latents, {op} {v0:g} → {v1:g} (mean over latents)"
        rows.append(_row(CLAIM_CONTROL, ev, effect, "none", DESCRIPTIVE_SINGLE, source=path))
    return rows


def claims_table(
    gpl=None, ig=None, nig=None, ablation=None, sae_variants=None, sae_control=None, adapted=None
) -> pd.DataFrame:
    """Every claim's rows (:data:`COLUMNS`) in claim order. Each argument is a path (or None: the stage is not
    configured); ``nig`` and ``ablation`` may also be lists (one table per cross-encoder). ``adapted``: the
    adapted models of claims 2–3 (None: every model the IG tables compare with their base)."""

    def many(fn, p):
        ps = p if isinstance(p, (list, tuple)) else [p]
        return [r for x in (ps or [None]) for r in fn(x)]

    rows = (
        many(claim_gpl, gpl)
        + claim_domain(ig, adapted)
        + claim_title(ig, adapted)
        + many(claim_nig, nig)
        + many(claim_ablation, ablation)
        + claim_sae(sae_variants)
        + claim_control(sae_control)
    )
    return pd.DataFrame(rows, columns=COLUMNS)


def _fmt_n(v) -> str:
    v = _num(v)
    return "" if math.isnan(v) else ("∞" if math.isinf(v) else f"{v:.0f}")


def write_claims(df: pd.DataFrame, md, csv) -> None:
    """The Claims table as Markdown (with the verdict rules under it; ``n_needed`` blank where not computable)
    and CSV, both atomically."""
    from irlens.io import atomic_path, write_text
    from irlens.report.tables import markdown_table

    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    shown = df.assign(n_needed=[_fmt_n(v) for v in df["n_needed"]])
    write_text(md, "## Claims\n\n" + markdown_table(shown) + "\n\n" + RULES + "\n")
