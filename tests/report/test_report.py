"""The report stage: the retrieval results table (``irlens report table``) and the generic figure helper."""

from __future__ import annotations

import json
import re

import pandas as pd

from irlens.cli import main
from irlens.report.figures import pyplot, save_figure
from irlens.report.tables import retrieval_table, write_table


def _metrics(path, dataset, retriever, ndcg):
    m = {"ndcg@10": ndcg, "mrr@10": 0.5, "recall@100": 0.75, "map": 0.25, "queries": 3}
    rec = {"dataset": dataset, "split": "test", "retriever": retriever, "model": "m", "backend": "b", "metrics": m}
    path.write_text(json.dumps(rec))
    return path


def test_retrieval_table_sorts_rows_and_names_columns(tmp_path):
    files = [
        _metrics(tmp_path / "a.json", "scifact", "minilm", 0.625),
        _metrics(tmp_path / "b.json", "nfcorpus", "bm25", 0.125),
        _metrics(tmp_path / "c.json", "scifact", "bm25", 0.5),
    ]
    df = retrieval_table(files)
    assert list(zip(df["dataset"], df["retriever"])) == [
        ("nfcorpus", "bm25"),
        ("scifact", "bm25"),
        ("scifact", "minilm"),
    ]
    assert list(df.columns) == [
        "dataset",
        "split",
        "retriever",
        "model",
        "backend",
        "nDCG@10",
        "MRR@10",
        "R@100",
        "MAP",
        "queries",
    ]
    assert df["nDCG@10"].tolist() == [0.125, 0.5, 0.625]


def test_write_table_markdown_and_csv(tmp_path):
    df = pd.DataFrame({"x": ["a", "b"], "v": [0.123456789, 1.0]})
    write_table(df, tmp_path / "t.md", tmp_path / "t.csv", title="T")
    assert (tmp_path / "t.csv").read_text() == "x,v\na,0.12346\nb,1.00000\n"
    md = (tmp_path / "t.md").read_text()
    assert md.startswith("## T\n\n|") and "0.1235" in md and "1.0000" in md


def md_cells(line: str) -> list[str]:
    """The cells of one markdown table row, split at unescaped ``|``."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_write_table_escapes_pipes_in_headers_and_cells(tmp_path):
    df = pd.DataFrame(
        {
            "dataset": ["a|b", "c", None],
            "median |F(x) - F(x')|": [0.5, 0.25, 1.0],
            "note": ["x\ny", "already \\| escaped", "plain"],
        }
    )
    write_table(df, tmp_path / "t.md", tmp_path / "t.csv", title="max of |a| / |b|")
    rows = [ln for ln in (tmp_path / "t.md").read_text().splitlines() if ln.startswith("|")]
    assert len(rows) == 5 and {len(md_cells(r)) for r in rows} == {3}
    assert [c.strip() for c in md_cells(rows[0])] == ["dataset", "median \\|F(x) - F(x')\\|", "note"]
    assert [c.strip() for c in md_cells(rows[2])] == ["a\\|b", "0.5000", "x y"]
    assert "already \\| escaped" in rows[3] and "\\\\|" not in rows[3]
    assert pd.read_csv(tmp_path / "t.csv")["dataset"].tolist()[0] == "a|b"  # the CSV keeps the raw text


def test_cli_report_table(tmp_path, capsys):
    f = _metrics(tmp_path / "a.json", "scifact", "minilm", 0.625)
    rc = main(
        ["report", "table", "--metrics", str(f), "--md", str(tmp_path / "r.md"), "--csv", str(tmp_path / "r.csv")]
    )
    assert rc == 0 and pd.read_csv(tmp_path / "r.csv")["nDCG@10"].tolist() == [0.625]
    assert main(["report", "table", "--metrics", str(tmp_path / "missing.json"), "--md", "x.md", "--csv", "x.csv"]) == 2
    assert "irlens report table: error:" in capsys.readouterr().err


def test_save_figure_writes_png_and_pdf(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]
