"""``irlens sae {train,evaluate,table,interpret,control,causal,export-saelens,import-saelens}``: sparse
autoencoders over cached dense embeddings (arXiv 2411.00786; workflow/rules/sae.smk)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from irlens.errors import IrlensError
from irlens.runtime import set_threads

log = logging.getLogger("irlens")


def _train_fields():
    from irlens.sae.config import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.name != "log_every"]


def _config(a: argparse.Namespace):
    """TrainConfig: ``--preset``, then ``--config`` (YAML/JSON mapping), then the flags given on the command line."""
    from irlens.sae.config import RECOMMENDED, TrainConfig

    values: dict = dict(RECOMMENDED) if a.preset == "recommended" else {}
    if a.config:
        from irlens.cli.common import read_yaml_mapping

        p = Path(a.config)
        given = read_yaml_mapping(p, "--config (SAE training settings)")
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
            raise IrlensError(
                f"--settings: unknown SAE setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
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
    """``irlens sae train``: train a TopK SAE on the embeddings folders and save it to ``--out``."""
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
        log.info(
            "SAE data %s: %d documents, %d training queries (%d left out; %d of them corpus sentences)",
            p["name"],
            len(p["corpus"]),
            0 if p["queries"] is None else len(p["queries"]),
            p.get("queries_excluded", 0),
            p.get("sentences", 0),
        )
    data = build_train_data(parts, n=cfg.n, doc_anchors=cfg.anchors == "queries+docs")
    model, record = train_sae(data, cfg, device=a.device)
    record["exclude_qrels"] = list(a.exclude_qrels or [])
    save_model(model, record, a.out)
    log.info("wrote %s (%.0f s training)", a.out, record["train_seconds"])


def cmd_evaluate(a: argparse.Namespace) -> None:
    """``irlens sae evaluate``: dense vs reconstructed vs latent retrieval and reconstruction metrics (JSON)."""
    from irlens.io import write_json
    from irlens.sae.codes import evaluation_codes, write_codes
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
        raise IrlensError(
            f"{a.embeddings}: embeddings have width {corpus.shape[1]}, the SAE in {a.model} expects {model.cfg.d_model}"
        )
    codes = evaluation_codes(model, write_codes(model, a.embeddings, a.codes_out), qids) if a.codes_out else None
    out = evaluate_sae(model, corpus, doc_ids, queries, qids, qrels, depth=a.depth, codes=codes)
    out.update(
        {
            "model": str(a.model),
            "embeddings": str(a.embeddings),
            "qrels": str(a.qrels),
            "sae": meta.get("sae"),
            "train": meta.get("train"),
            "train_seconds": meta.get("train_seconds"),
            "train_pool": meta.get("pool"),  # dead latents over the training pool (None: a model of older code)
        }
    )
    write_json(a.out, out)
    r = out["retrieval"]
    log.info(
        "nDCG@10 dense %.4f, reconstructed %.4f (%.1f%%), latent %.4f (%.1f%%) (%s codes); FVU %.4f, L0 %.1f, "
        "dead %.2f%% of latents on the evaluation set",
        r["dense"]["ndcg@10"],
        r["reconstructed"]["ndcg@10"],
        100 * out["ratio_ndcg@10"]["reconstructed"],
        r["latent"]["ndcg@10"],
        100 * out["ratio_ndcg@10"]["latent"],
        out["codes"],
        out["reconstruction"]["all"]["fvu"],
        out["reconstruction"]["all"]["l0"],
        out["reconstruction"]["all"]["dead_pct"],
    )


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
    """``irlens sae table``: variants table (Markdown + CSV) and figure from 'sae evaluate' JSONs."""
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


def cmd_interpret(a: argparse.Namespace) -> None:
    """``irlens sae interpret``: the most frequent latents' top documents/queries, enriched words and N2G
    explanations, as JSON and a browsable HTML page."""
    from irlens.data.beir import read_queries
    from irlens.io import write_json
    from irlens.sae.codes import frequent_latents, read_codes, write_codes
    from irlens.sae.data import load_embeddings_file
    from irlens.sae.interpret import describe_latents, document_texts
    from irlens.sae.metrics import codes_label
    from irlens.sae.model import TopKSAE
    from irlens.sae.n2g import mean_scores
    from irlens.sae.report import latents_html

    set_threads(a.threads)
    model, meta = TopKSAE.load(a.model)
    folder = Path(a.embeddings)
    corpus, doc_ids, _ = load_embeddings_file(folder / "corpus.npy")
    data = Path(a.data)
    texts = document_texts(data / "corpus.jsonl", doc_ids, folder / "corpus.json")
    if a.codes:
        codes = read_codes(a.codes, folder)
    else:
        codes = write_codes(model, folder, Path(a.out_json).with_suffix(".codes.npz"))
    dv, di = codes["doc_vals"], codes["doc_idx"]
    latents = frequent_latents(dv, di, model.cfg.n_latents, a.latents, max_share=a.max_share)
    qkw = {}
    if "query_vals" in codes:
        queries = read_queries(data / "queries.jsonl")
        qids = codes["query_ids"]
        qkw = dict(
            query_vals=codes["query_vals"],
            query_idx=codes["query_idx"],
            query_ids=qids,
            query_texts=[queries.get(x, "") for x in qids],
        )
    recs = describe_latents(latents, dv, di, doc_ids, texts, model.cfg.n_latents, n=a.top, words=a.words, **qkw)
    if a.encoder:
        from irlens.models.encoder import load_bi_encoder
        from irlens.models.resolve import parse_pins
        from irlens.sae.n2g import activation_fn, add_explanations

        enc, _ = load_bi_encoder(a.encoder, a.local_dir or [], device=a.device, pins=parse_pins(a.pin))
        add_explanations(
            recs,
            activation_fn(enc, model),
            texts,
            doc_ids,
            dv,
            di,
            n_examples=a.n2g_examples,
            n_eval=a.n2g_eval,
            seed=a.seed,
        )
    m = mean_scores(recs)
    codes_kind = codes_label(model.cfg.refine_steps)
    out = {"model": str(a.model), "embeddings": str(folder), "codes": codes_kind, "latents": recs, "n2g_mean": m}
    write_json(a.out_json, out)
    note = (
        f"SAE {a.model} ({model.cfg.n_latents} latents, K = {model.cfg.k}) over {folder}, {codes_kind} codes"
        f"{'' if codes_kind == 'encoder' else ' (not the encoder top-k codes the paper reads)'}: "
        f"the {len(recs)} latents firing on the most documents (at most {a.max_share:.0%} of them)."
    )
    if m:
        note += (
            f" N2G patterns scored on every document but the examples, at the latent's real base rate "
            f"(mean {m['base_rate']:.1%} of documents fire): mean precision {m['precision']:.2f}, "
            f"recall {m['recall']:.2f}, F1 {m['f1']:.2f}; on a balanced set (the next {a.n2g_eval} firing vs "
            f"as many random non-firing) precision would read {m['precision_balanced']:.2f}."
        )
    latents_html(recs, a.out_html, title=a.title or "SAE latents", note=note)
    log.info("wrote %s and %s (%d latents)", a.out_json, a.out_html, len(recs))


def cmd_control(a: argparse.Namespace) -> None:
    """``irlens sae control``: amplify latents (and latent pseudo-relevance feedback), decode, re-rank;
    table (Markdown + CSV) and figure of the curves."""
    import pandas as pd

    from irlens.report.tables import write_table
    from irlens.sae.codes import decode_codes, frequent_latents, read_codes
    from irlens.sae.control import control_rows
    from irlens.sae.data import load_eval_set
    from irlens.sae.metrics import codes_label, encode_array
    from irlens.sae.model import TopKSAE
    from irlens.sae.report import figure_control
    from irlens.sae.retrieval import as_embeddings, normalizing_encoder

    set_threads(a.threads)
    model, _ = TopKSAE.load(a.model)
    corpus, doc_ids, queries, qids, qrels = load_eval_set(a.embeddings, a.qrels)
    if a.codes:
        codes = read_codes(a.codes, a.embeddings)
        dv, di = codes["doc_vals"], codes["doc_idx"]
        dh = decode_codes(model, dv, di)
    else:
        dv, di, dh = encode_array(model, corpus)
    # searched as in evaluate: δ = 0 of the PRF curve is its "reconstructed" run
    dh = as_embeddings(dh, normalizing_encoder(corpus, queries))
    values = tuple(float(v) for v in a.values)
    prf_values = a.prf_values or (values if a.mode == "add" else (0.0, 0.05, 0.1, 0.2, 0.4))
    latents = a.latent or frequent_latents(
        dv, di, model.cfg.n_latents, a.latents, min_df=a.targets, max_share=a.max_share
    )
    rows = control_rows(
        model,
        queries,
        qids,
        dh,
        doc_ids,
        dv,
        di,
        qrels,
        latents,
        values,
        mode=a.mode,
        targets=a.targets,
        prf_values=tuple(float(v) for v in prf_values),
        feedback_k=a.prf_feedback_k,
        feedback_latents=a.prf_latents,
    )
    df = pd.DataFrame(rows)
    df.insert(0, "codes", codes_label(model.cfg.refine_steps))  # of the documents and queries amplified
    title = a.title or "SAE control: amplified latents and latent pseudo-relevance feedback"
    title += f" ({codes_label(model.cfg.refine_steps)} codes)"
    write_table(df, a.md, a.csv, title=title, floatfmt=".4f")
    figure_control(df, a.figure, title=a.title or "")
    log.info("wrote %s, %s, %s (%d latents, %d values)", a.md, a.csv, a.figure, len(latents), len(values))


def cmd_export_saelens(a: argparse.Namespace) -> None:
    """``irlens sae export-saelens``: write an irlens SAE as a SAELens TopK SAE folder (``SAE.load_from_disk``)."""
    import numpy as np

    from irlens.sae.data import load_embeddings_file
    from irlens.sae.model import TopKSAE
    from irlens.sae.saelens import export_saelens, firing_frequencies, saelens_metadata

    set_threads(a.threads)
    if Path(a.out).resolve() == Path(a.model).resolve():
        raise IrlensError(f"--out {a.out}: the irlens model folder itself; give the SAELens folder another path")
    model, meta = TopKSAE.load(a.model)
    freq, source = None, None
    if a.embeddings:
        rows, names = [], []
        for folder in map(Path, a.embeddings):
            for side in ("corpus", "queries"):
                f = folder / f"{side}.npy"
                if side == "queries" and not f.is_file():
                    continue
                x, _, _ = load_embeddings_file(f)
                if x.shape[1] != model.cfg.d_model:
                    raise IrlensError(f"{f}: width {x.shape[1]}, the SAE in {a.model} expects {model.cfg.d_model}")
                rows.append(x)
                names.append(f"{f} ({len(x)})")
        freq = firing_frequencies(model, np.concatenate(rows))
        source = ", ".join(names)
    export_saelens(
        model,
        a.out,
        saelens_metadata(meta, source=a.model),
        frequencies=freq,
        frequency_source=source,
        encoder_codes=a.encoder_codes,
    )
    log.info(
        "wrote %s (SAELens topk SAE, d_in %d, d_sae %d, k %d; %s)",
        a.out,
        model.cfg.d_model,
        model.cfg.n_latents,
        model.cfg.k,
        f"sparsity over {source}" if source else "no sparsity.safetensors: give --embeddings for one",
    )


def cmd_import_saelens(a: argparse.Namespace) -> None:
    """``irlens sae import-saelens``: read a SAELens TopK SAE folder into an irlens SAE model folder."""
    from irlens.sae.saelens import import_saelens

    model = import_saelens(a.saelens, a.out)
    log.info("wrote %s (%d latents over width %d, k %d)", a.out, model.cfg.n_latents, model.cfg.d_model, model.cfg.k)


def _pattern_table(a: argparse.Namespace, model, codes: dict, doc_ids: list[str], records: dict, latents: list[int]):
    """The held-out N2G pattern-deletion columns (:func:`irlens.sae.causal.pattern_rows`) of ``latents``;
    ``doc_ids``: the rows of the embeddings' corpus.npy."""
    from irlens.models.encoder import load_bi_encoder
    from irlens.models.resolve import parse_pins
    from irlens.sae.causal import pattern_rows
    from irlens.sae.interpret import document_texts
    from irlens.sae.n2g import activation_fn

    folder = Path(a.embeddings)
    texts = document_texts(Path(a.data) / "corpus.jsonl", doc_ids, folder / "corpus.json")
    row_of = {d: i for i, d in enumerate(doc_ids)}
    patterns, exclude = {}, {}
    for lat in latents:
        n2g = (records.get(int(lat)) or {}).get("n2g") or {}
        patterns[int(lat)] = n2g.get("patterns", [])
        n_ex = len(n2g.get("examples", []))
        top = (records.get(int(lat)) or {}).get("top_documents", [])[:n_ex]
        exclude[int(lat)] = {row_of[d["id"]] for d in top if d.get("id") in row_of}
    enc, _ = load_bi_encoder(a.encoder, a.local_dir or [], device=a.device, pins=parse_pins(a.pin))
    return pattern_rows(
        activation_fn(enc, model),
        texts,
        codes["doc_vals"],
        codes["doc_idx"],
        latents,
        patterns,
        exclude=exclude,
        docs=a.pattern_docs,
        repeats=a.pattern_repeats,
        min_docs=a.pattern_min_docs,
        seed=a.seed,
        n_boot=a.bootstrap,
    )


def cmd_causal(a: argparse.Namespace) -> None:
    """``irlens sae causal``: zero each interpreted latent in its top documents and measure the score and rank
    drop for the queries that activate it, against frequency-matched random latents; with ``--encoder``, also
    delete each latent's N2G pattern words from held-out firing documents against random words
    (irlens.sae.causal)."""
    import numpy as np

    from irlens.io import read_json
    from irlens.report.tables import write_table
    from irlens.sae.causal import causal_rows
    from irlens.sae.codes import read_codes
    from irlens.sae.data import load_embeddings_file
    from irlens.sae.metrics import codes_label
    from irlens.sae.model import TopKSAE
    from irlens.sae.retrieval import normalizing_encoder

    if a.encoder and not a.data:
        raise IrlensError("sae causal: --encoder needs --data (the BEIR folder with the documents' texts)")
    set_threads(a.threads)
    model, _ = TopKSAE.load(a.model)
    codes = read_codes(a.codes, a.embeddings)
    if "query_vals" not in codes:
        raise IrlensError(f"{a.codes}: no query codes (the embeddings folder had no queries.npy)")
    corpus, doc_ids, _ = load_embeddings_file(Path(a.embeddings) / "corpus.npy")
    queries, _, _ = load_embeddings_file(Path(a.embeddings) / "queries.npy")
    records = {}
    if a.latents_json:
        doc = read_json(a.latents_json)
        if not isinstance(doc, dict) or not isinstance(doc.get("latents"), list):
            raise IrlensError(f"{a.latents_json}: not a latents JSON of 'irlens sae interpret' (no 'latents' list)")
        records = {int(r["latent"]): r for r in doc["latents"] if "latent" in r}
    latents = list(a.latent or records)
    if not latents:
        raise IrlensError("sae causal: give --latent or --latents-json (the interpreted latents)")
    df = causal_rows(
        model,
        codes["doc_vals"],
        codes["doc_idx"],
        codes["query_vals"],
        codes["query_idx"],
        latents,
        targets=a.targets,
        repeats=a.repeats,
        seed=a.seed,
        normalize=normalizing_encoder(corpus, queries),
        n_boot=a.bootstrap,
    )
    pats, f1 = [], []
    for lat in df["latent"]:
        n2g = (records.get(int(lat)) or {}).get("n2g") or {}
        pats.append(" | ".join(" + ".join(p) for p in n2g.get("patterns", [])))
        f1.append((n2g.get("score") or {}).get("f1", np.nan))
    df.insert(1, "n2g_patterns", pats)
    df.insert(2, "n2g_f1", f1)
    tested = df[df["queries"] > 0]
    note = (
        f"**Zeroing:** {int(tested['causal'].sum())} of {len(tested)} tested latents causal (zeroing the latent in "
        f"its top {a.targets} documents lowers their scores for the queries that activate it more than zeroing a "
        f"random active latent matched on frequency and on value in the document (mean value ratio "
        f"{np.nanmean(tested['random_value_ratio']) if len(tested) else float('nan'):.2f}; not always reachable: a "
        f"latent is often the strongest in its top documents): one-sided sign-flip test over queries, "
        f"Holm-adjusted over the {len(tested)} latents, p_holm ≤ 0.05; difference with its paired 95% bootstrap CI); "
        f"{len(df) - len(tested)} latents no query activates (not tested). "
    )
    if a.encoder:
        df = df.merge(_pattern_table(a, model, codes, doc_ids, records, list(df["latent"])), on="latent", how="left")
        v = df["pattern_supported"]
        n_test = int(df["pattern_p"].notna().sum())
        n_yes, n_no = int((v == True).sum()), int((v == False).sum())  # noqa: E712 (None = no verdict)
        note += (
            f"**N2G pattern deletion (held out):** {n_yes} of {n_test} tested interpretations supported, {n_no} not "
            f"supported, {n_test - n_yes - n_no} too few documents to tell (deleting the pattern's words from up to "
            f"{a.pattern_docs} firing documents that were not N2G examples lowers the latent's activation more than "
            f"deleting as many random words, {a.pattern_repeats} draws per document: exact one-sided sign-flip test "
            f"over documents, Holm-adjusted over the {n_test} tested latents, p_holm ≤ 0.05; a latent whose smallest "
            f"reachable p times {n_test} exceeds 0.05 gets no verdict); {len(df) - n_test} latents not tested (fewer "
            f"than {a.pattern_min_docs} such documents). "
        )
    note += f"Codes: {codes_label(model.cfg.refine_steps)}."
    write_table(df, a.md, a.csv, title="SAE causal checks of the interpreted latents", floatfmt=".4g", footer=note)
    log.info("wrote %s, %s: %s", a.md, a.csv, note)


def add_parser(sub) -> None:
    """Register ``irlens sae ...`` on the top-level subparsers ``sub``."""
    sae = sub.add_parser("sae", help="sparse autoencoders over dense retrieval embeddings")
    ss = sae.add_subparsers(dest="sae_cmd", required=True)

    p = ss.add_parser("train", help="train a TopK SAE on cached corpus + query embeddings")
    p.add_argument(
        "--embeddings",
        action="append",
        required=True,
        help="folder with corpus.npy (+ queries.npy) from 'irlens retrieval encode'; repeat for several datasets",
    )
    p.add_argument(
        "--exclude-qrels",
        action="append",
        default=[],
        help=(
            "<folder name>=<qrels.tsv>: leave out that folder's queries judged in the qrels "
            "(evaluation queries); repeatable"
        ),
    )
    p.add_argument(
        "--sentences",
        action="store_true",
        help=(
            "also train on each folder's sentences.npy (corpus sentences from "
            "'irlens retrieval encode --side sentences') as extra pseudo-queries"
        ),
    )
    p.add_argument(
        "--preset",
        choices=["recommended", "plain"],
        default="recommended",
        help=(
            "base settings: 'recommended' (irlens.sae.config.RECOMMENDED) "
            "or 'plain' (FVU-only TopK SAE, the TrainConfig defaults)"
        ),
    )
    p.add_argument("--config", help="YAML/JSON mapping of training settings over the preset; flags override it")
    p.add_argument(
        "--settings", help="inline JSON mapping of training settings over --config (what the workflow passes)"
    )
    for f in _train_fields():
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"(default {f.default})")
        else:
            typ = float if f.default is None or isinstance(f.default, float) else type(f.default)
            p.add_argument(flag, type=typ, default=None, help=f"(default {f.default})")
    p.add_argument(
        "--device",
        default="auto",
        help="where to train: auto (CUDA when available) | cpu | cuda | cuda:N; the saved model is the same format",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", required=True, help="model folder (model.safetensors + config.json)")
    p.set_defaults(func=cmd_train)

    p = ss.add_parser("evaluate", help="dense vs reconstructed vs latent retrieval; FVU, L0, dead latents")
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy and queries.npy")
    p.add_argument("--qrels", required=True, help="qrels of the evaluation queries (BEIR tsv)")
    p.add_argument("--depth", type=int, default=100, help="documents kept per query")
    p.add_argument(
        "--refine-steps",
        type=int,
        default=None,
        help="IHT refinement steps of the codes (default: the model's refine_steps)",
    )
    p.add_argument(
        "--refine-momentum",
        type=float,
        default=None,
        help="IHT momentum in [0, 1) (default: the model's refine_momentum)",
    )
    p.add_argument(
        "--codes-out",
        help="also save the top-k codes of every corpus and query row (.npz) for 'sae interpret' / 'sae control'",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", required=True, help="metrics JSON")
    p.set_defaults(func=cmd_evaluate)

    p = ss.add_parser("table", help="variants table (K sweep, λ on/off) and its figure from 'sae evaluate' JSONs")
    p.add_argument("--eval", action="append", required=True, help="<variant>=<evaluation JSON>; repeat")
    p.add_argument("--sweep", nargs="*", default=[], help="variants of the K sweep (figure, left)")
    p.add_argument(
        "--pair", action="append", default=[], help="<λ on>:<λ off> variants compared (figure, right); repeatable"
    )
    p.add_argument("--title", default="SAE variants", help="table and figure title")
    p.add_argument("--md", required=True, help="variants table (Markdown)")
    p.add_argument("--csv", required=True, help="variants table (CSV)")
    p.add_argument("--figure", help="PNG (a PDF is written beside it)")
    p.set_defaults(func=cmd_table)

    p = ss.add_parser(
        "interpret", help="browsable page of the most frequent latents: top documents/queries, enriched words, N2G"
    )
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy (+ queries.npy) the latents are read on")
    p.add_argument("--data", required=True, help="BEIR folder with the texts of those embeddings")
    p.add_argument("--codes", help="codes from 'sae evaluate --codes-out' (default: computed here)")
    p.add_argument(
        "--encoder", help="the bi-encoder that made the embeddings (HF id / folder): enables N2G explanations"
    )
    p.add_argument("--local-dir", action="append", default=[], help="local model folder(s) searched first")
    p.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    p.add_argument("--device", default="auto", help="device of the bi-encoder for N2G: auto | cpu | cuda | cuda:N")
    p.add_argument("--latents", type=int, default=24, help="how many latents (most frequent first)")
    p.add_argument(
        "--max-share", type=float, default=0.5, help="skip latents firing on more than this share of documents"
    )
    p.add_argument("--top", type=int, default=8, help="top documents / queries per latent")
    p.add_argument("--words", type=int, default=12, help="enriched words per latent")
    p.add_argument("--n2g-examples", type=int, default=5, help="top documents an N2G explanation is built from")
    p.add_argument(
        "--n2g-eval", type=int, default=20, help="held-out firing documents (and as many non-firing) it is scored on"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random non-firing documents N2G is scored on")
    p.add_argument("--title", default="", help="page title (default: 'SAE latents')")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--out-json", required=True, help="latent records (JSON)")
    p.add_argument("--out-html", required=True, help="browsable page of the latents (HTML)")
    p.set_defaults(func=cmd_interpret)

    p = ss.add_parser("control", help="amplify latents (and latent pseudo-relevance feedback), decode, re-rank: curves")
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument("--embeddings", required=True, help="folder with corpus.npy and queries.npy")
    p.add_argument("--qrels", required=True, help="qrels of the evaluation queries")
    p.add_argument("--codes", help="codes from 'sae evaluate --codes-out' (default: computed here)")
    p.add_argument(
        "--latent",
        type=int,
        action="append",
        default=[],
        help="latent(s) to amplify (default: --latents frequent ones)",
    )
    p.add_argument(
        "--latents", type=int, default=3, help="how many frequent latents to amplify when no --latent is given"
    )
    p.add_argument(
        "--max-share", type=float, default=0.05, help="auto-picked latents fire on at most this share of documents"
    )
    p.add_argument("--targets", type=int, default=20, help="target set: the latent's top-activating documents")
    p.add_argument("--mode", choices=["add", "scale"], default="add", help="add δ to the latent or scale it by α")
    p.add_argument(
        "--values", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.4], help="δ (add) or α (scale) values"
    )
    p.add_argument("--prf-feedback-k", type=int, default=4, help="PRF: feedback documents per query")
    p.add_argument(
        "--prf-latents", type=int, default=4, help="PRF: strongest latents taken from each feedback document"
    )
    p.add_argument(
        "--prf-values",
        type=float,
        nargs="+",
        default=None,
        help="PRF: δ added to the feedback latents (default: --values in add mode, else 0 0.05 0.1 0.2 0.4)",
    )
    p.add_argument(
        "--title", default="", help="table and figure title (default: a generic one for the table, none for the figure)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--md", required=True, help="curves table (Markdown)")
    p.add_argument("--csv", required=True, help="curves table (CSV)")
    p.add_argument("--figure", required=True, help="PNG (a PDF is written beside it)")
    p.set_defaults(func=cmd_control)

    p = ss.add_parser(
        "causal", help="interpreted latents: zero them (vs matched random latents); delete their N2G patterns' words"
    )
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument(
        "--embeddings", required=True, help="embeddings folder the codes belong to (corpus.npy, queries.npy)"
    )
    p.add_argument("--codes", required=True, help="codes .npz of 'irlens sae evaluate --codes-out'")
    p.add_argument("--latents-json", help="latents JSON of 'irlens sae interpret': its latents and N2G patterns")
    p.add_argument("--latent", type=int, nargs="+", help="latents to check (default: those of --latents-json)")
    p.add_argument("--targets", type=int, default=20, help="top-activating documents per latent")
    p.add_argument("--repeats", type=int, default=5, help="random matched latents per target document")
    p.add_argument(
        "--encoder",
        help="bi-encoder id or folder: with it (and --data) each latent's N2G pattern is also tested by deleting its "
        "words from held-out firing documents against deleting random words",
    )
    p.add_argument("--data", help="BEIR folder with the texts of the embeddings (for --encoder)")
    p.add_argument("--local-dir", action="append", default=[], help="local model folder(s) searched first")
    p.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    p.add_argument("--device", default="auto", help="device of the bi-encoder: auto | cpu | cuda | cuda:N")
    p.add_argument("--pattern-docs", type=int, default=12, help="held-out documents per latent (pattern deletion)")
    p.add_argument("--pattern-repeats", type=int, default=3, help="random-word deletions per document")
    p.add_argument(
        "--pattern-min-docs", type=int, default=5, help="fewer held-out documents than this: the pattern is not tested"
    )
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the CIs")
    p.add_argument("--seed", type=int, default=42, help="seed of the random latents and the bootstrap")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--md", required=True, help="output Markdown table")
    p.add_argument("--csv", required=True, help="output CSV table")
    p.set_defaults(func=cmd_causal)

    p = ss.add_parser(
        "export-saelens", help="write an irlens SAE as a SAELens TopK SAE folder (cfg.json + sae_weights.safetensors)"
    )
    p.add_argument("--model", required=True, help="model folder from 'irlens sae train'")
    p.add_argument(
        "--embeddings",
        action="append",
        default=[],
        help=(
            "folder with corpus.npy (+ queries.npy): also write sparsity.safetensors, the log10 firing frequency "
            "of each latent over its rows (encoder codes); repeatable (default: no sparsity file)"
        ),
    )
    p.add_argument(
        "--encoder-codes",
        action="store_true",
        help=(
            "export a model that refines its codes at inference (refine_steps > 0) anyway: SAELens computes "
            "the encoder's codes (irlens --refine-steps 0)"
        ),
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", required=True, help="SAELens SAE folder to write (replaced atomically)")
    p.set_defaults(func=cmd_export_saelens)

    p = ss.add_parser("import-saelens", help="read a SAELens TopK SAE folder into an irlens SAE model folder")
    p.add_argument("--saelens", required=True, help="SAELens SAE folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--out", required=True, help="irlens model folder to write (model.safetensors + config.json)")
    p.set_defaults(func=cmd_import_saelens)
