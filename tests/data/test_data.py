import hashlib
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from irlens.data import load_beir, prepare_dataset, read_corpus, read_qrels, read_queries, sources, subsample
from irlens.data.beir import doc_text
from irlens.errors import IrlensError


def test_crlf_qrels_and_string_ids(tiny_beir):
    qrels = read_qrels(tiny_beir / "qrels" / "test.tsv")
    assert qrels == {"q1": {"d1": 1, "d5": 2}, "q2": {"d2": 1}, "6": {"d4": 1}}
    assert all(isinstance(k, str) for k in qrels)
    corpus = read_corpus(tiny_beir / "corpus.jsonl")
    assert "6" in corpus and corpus["d3"]["title"] == ""
    assert read_queries(tiny_beir / "queries.jsonl")["6"] == "fish in water"


def test_numeric_ids_become_strings(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text('{"_id": 12, "title": "t", "text": "x"}\n')
    assert list(read_corpus(p)) == ["12"]


def test_title_prepended_as_beir():
    assert doc_text({"title": "T", "text": "body "}) == "T body"
    assert doc_text({"title": "", "text": " body"}) == "body"


def test_missing_file_names_it(tmp_path):
    with pytest.raises(IrlensError, match=r"corpus\.jsonl: file not found"):
        read_corpus(tmp_path / "corpus.jsonl")


def test_malformed_line_names_file_and_line(tiny_beir):
    p = tiny_beir / "queries.jsonl"
    lines = p.read_text().splitlines()
    lines[1] = '{"_id": "q2", "text": '
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(IrlensError, match=r"queries\.jsonl:2: malformed JSON"):
        read_queries(p)


def test_malformed_qrels_row(tiny_beir):
    p = tiny_beir / "qrels" / "test.tsv"
    p.write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(IrlensError, match=r"test\.tsv:2: expected 3 tab-separated columns"):
        read_qrels(p)


def test_duplicate_ids_rejected(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n')
    with pytest.raises(IrlensError, match=r":2: duplicate document id 'a'"):
        read_corpus(p)


def _sums(mirror):
    lines = []
    for f in sorted(mirror.rglob("*")):
        if f.is_file() and f.name != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(mirror)}")
    (mirror / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_prepare_from_verified_mirror_normalises(tiny_beir, tmp_path):
    mirror = tiny_beir.parent
    _sums(mirror)
    out = tmp_path / "out"
    m = prepare_dataset("tiny", out, mirrors=[tmp_path / "nowhere", mirror], splits=["test"])
    assert m["source"]["kind"] == "mirror" and m["source"]["sha256_verified_files"] == 4
    raw = (out / "qrels" / "test.tsv").read_bytes()
    assert b"\r" not in raw and raw.startswith(b"query-id\tcorpus-id\tscore\n")
    assert not (out / "qrels" / "train.tsv").exists()
    ds = load_beir(out)
    assert set(ds.qrels) == {"test"} and len(ds.corpus) == 6
    assert json.loads((out / "corpus.jsonl").read_text().splitlines()[0]).keys() == {"_id", "title", "text"}


def test_checksum_mismatch_names_file(tiny_beir, tmp_path):
    mirror = tiny_beir.parent
    _sums(mirror)
    with open(tiny_beir / "corpus.jsonl", "a") as fh:
        fh.write('{"_id": "extra", "text": "tampered"}\n')
    with pytest.raises(IrlensError, match=r"tiny/corpus\.jsonl: sha256 mismatch"):
        prepare_dataset("tiny", tmp_path / "out", mirrors=[mirror])
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_missing_split_is_clear(tiny_beir, tmp_path):
    with pytest.raises(IrlensError, match=r"no split\(s\) \['dev'\]"):
        prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent], splits=["test", "dev"])


def _zip_dataset(folder, zpath):
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in folder.rglob("*"):
            if f.is_file():
                zf.write(f, f"{folder.name}/{f.relative_to(folder)}")


def test_download_path_checks_md5(tiny_beir, tmp_path, monkeypatch):
    """The real download code, fed a file:// URL: md5 verified, extracted, loaded."""
    zpath = tmp_path / "served" / "tiny.zip"
    zpath.parent.mkdir()
    _zip_dataset(tiny_beir, zpath)
    md5 = hashlib.md5(zpath.read_bytes()).hexdigest()
    monkeypatch.setitem(sources.BEIR_MD5, "tiny", md5)
    monkeypatch.setattr(sources, "BEIR_URL", f"file://{zpath.parent}/{{name}}.zip")
    m = prepare_dataset("tiny", tmp_path / "out", mirrors=[tmp_path / "empty"], download_dir=tmp_path / "dl")
    assert m["source"]["kind"] == "beir-download" and m["counts"]["corpus"] == 6

    monkeypatch.setitem(sources.BEIR_MD5, "tiny", "0" * 32)
    with pytest.raises(IrlensError, match=r"tiny\.zip: md5 .* differs from BEIR's published"):
        prepare_dataset("tiny", tmp_path / "out2", mirrors=[], download_dir=tmp_path / "dl2")


def test_download_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BEIR_URL", f"file://{tmp_path}/missing/{{name}}.zip")
    with pytest.raises(IrlensError, match=r"dataset 'nosuch': not in any local mirror and the download .* failed"):
        prepare_dataset("nosuch", tmp_path / "out", mirrors=[tmp_path], download_dir=tmp_path / "dl")


def test_subsample_is_deterministic_and_keeps_judged_docs(tiny_beir):
    ds = load_beir(tiny_beir)
    a = subsample(ds, queries_per_split=1, distractors=1, seed=3)
    b = subsample(ds, queries_per_split=1, distractors=1, seed=3)
    assert a == b
    judged = {d for qr in a.qrels.values() for docs in qr.values() for d in docs}
    assert judged <= set(a.corpus)
    assert len(a.corpus) == len(judged) + 1
    assert all(len(qr) == 1 for qr in a.qrels.values())
    assert set(a.queries) == {q for qr in a.qrels.values() for q in qr}


@pytest.mark.parametrize("name", ["scifact", "nfcorpus"])
def test_shared_mirror_verifies(name, tmp_path):
    """The real BEIR files beside the repo (present on dev and CI machines) pass verification."""
    from conftest import SHARED_BEIR

    if not SHARED_BEIR.is_dir():
        pytest.skip("../shared/data/beir not present (only on the project's machines)")
    checked = sources.verify_sha256sums(SHARED_BEIR, name)
    assert len(checked) >= 4


# --- hardening (issue 21): empty texts and truncated mirrors fail at the data stage, not stages later


def _rewrite_jsonl(path, edit):
    """Rewrite a JSONL file, record by record, through ``edit(record) -> record | None`` (None: drop the line)."""
    recs = [edit(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs if r is not None))


def _set_text(path, rid, text, title=None):
    def edit(r):
        if r["_id"] == rid:
            r["text"] = text
            if title is not None:
                r["title"] = title
        return r

    _rewrite_jsonl(path, edit)


def test_empty_query_is_an_error_naming_file_and_id(tiny_beir, tmp_path):
    _set_text(tiny_beir / "queries.jsonl", "q2", "")
    with pytest.raises(IrlensError, match=r"tiny/queries\.jsonl: 1 empty or whitespace-only queries \(q2\); .*drop"):
        prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent])
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_whitespace_only_document_is_an_error(tiny_beir, tmp_path):
    _set_text(tiny_beir / "corpus.jsonl", "d3", " \t\n ", title="  ")
    with pytest.raises(IrlensError, match=r"tiny/corpus\.jsonl: 1 documents with empty .* title and text \(d3\)"):
        prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent])


def test_many_empty_ids_are_shortened(tmp_path):
    from conftest import write_beir_folder

    corpus = {"d": ("", "text")}
    queries = {f"q{i}": " " for i in range(8)}
    folder = write_beir_folder(tmp_path / "m" / "x", corpus, queries, {"test": [("q0", "d", 1)]})
    with pytest.raises(IrlensError, match=r"8 empty .* \(q0, q1, q2, q3, q4, … \(8 in all\)\)") as e:
        prepare_dataset("x", tmp_path / "out", mirrors=[folder.parent])
    assert "\n" not in str(e.value)


def test_drop_mode_drops_texts_and_their_qrels_and_records_counts(tiny_beir, tmp_path):
    _set_text(tiny_beir / "queries.jsonl", "q2", "   ")
    _set_text(tiny_beir / "corpus.jsonl", "d5", "", title=" ")
    out = tmp_path / "out"
    m = prepare_dataset("tiny", out, mirrors=[tiny_beir.parent], empty_texts="drop")
    d = m["dropped"]
    assert (d["empty_queries"], d["empty_documents"]) == (1, 1)
    assert d["query_ids"] == ["q2"] and d["document_ids"] == ["d5"]
    # test: q1-d5 (document gone) and q2-d2 (query gone); train: q2-d5 (both)
    assert d["qrels_rows"] == {"test": 2, "train": 1}
    ds = load_beir(out)
    assert "q2" not in ds.queries and "d5" not in ds.corpus
    assert ds.qrels["test"] == {"q1": {"d1": 1}, "6": {"d4": 1}}
    assert ds.qrels["train"] == {}
    assert m["counts"]["qrels/test"] == {"queries": 2, "rows": 2}
    assert json.loads((out / "manifest.json").read_text())["dropped"] == d


def test_clean_dataset_records_nothing_dropped(tiny_beir, tmp_path):
    m = prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent])
    assert m["dropped"] == {"empty_queries": 0, "empty_documents": 0} and m["dangling_qrels"] == {}


def test_empty_texts_through_ir_datasets_name_the_source(tmp_path, monkeypatch):
    from irlens.data import prepare

    corpus = {"d1": {"title": "", "text": "x"}}
    monkeypatch.setattr(prepare, "load_ir_datasets", lambda i: (corpus, {"q1": ""}, {"test": {"q1": {"d1": 1}}}))
    with pytest.raises(IrlensError, match=r"ir_datasets 'beir/x/test' queries: 1 empty .* \(q1\)"):
        prepare_dataset("x", tmp_path / "out", irds_id="beir/x/test")


def _cut_last_lines(path, n):
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-n]))  # cut at a line boundary: every remaining line still parses


def test_truncated_corpus_without_sums_is_an_error_naming_the_qrels(tiny_beir, tmp_path):
    assert not (tiny_beir.parent / "SHA256SUMS").exists()
    _cut_last_lines(tiny_beir / "corpus.jsonl", 2)  # drops d5 (judged for q1) and 6 (not judged)
    with pytest.raises(IrlensError) as e:
        prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent], splits=["test"])
    msg = str(e.value)
    assert "tiny/qrels/test.tsv: 1 rows reference 1 document ids absent from" in msg
    assert "tiny/corpus.jsonl (d5)" in msg and "restore" in msg and "data.dangling_qrels: keep" in msg
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_truncated_queries_is_an_error_naming_the_query(tiny_beir, tmp_path):
    _cut_last_lines(tiny_beir / "queries.jsonl", 1)  # drops query 6
    with pytest.raises(IrlensError, match=r"qrels/test\.tsv: 1 rows reference 1 query ids absent from .*\(6\)"):
        prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent], splits=["test"])
    # a split that does not judge the missing query is fine
    prepare_dataset("tiny", tmp_path / "train", mirrors=[tiny_beir.parent], splits=["train"])


def test_dangling_qrels_keep_is_the_explicit_opt_out(tiny_beir, tmp_path):
    _cut_last_lines(tiny_beir / "corpus.jsonl", 2)
    m = prepare_dataset("tiny", tmp_path / "out", mirrors=[tiny_beir.parent], dangling_qrels="keep")
    one = {"missing_queries": 0, "missing_docs": 1, "rows": 1}
    assert m["dangling_qrels"] == {"test": one, "train": one}  # q1-d5 and q2-d5
    assert load_beir(tmp_path / "out").qrels["test"]["q1"] == {"d1": 1, "d5": 2}  # kept, as BEIR keeps it


def test_subsample_after_the_checks(tiny_beir, tmp_path):
    """Subsampling drops documents on purpose: the reference check runs on the full dataset, before it, and the
    subsample (itself a consistent dataset) passes every check when prepared again."""
    _set_text(tiny_beir / "queries.jsonl", "q2", "")
    sub = {"queries": 1, "distractors": 0, "seed": 0}
    out = tmp_path / "sub" / "tiny"
    m = prepare_dataset("tiny", out, mirrors=[tiny_beir.parent], subsample=sub, empty_texts="drop")
    assert m["dropped"]["empty_queries"] == 1 and m["counts"]["corpus"] < 6
    ds = load_beir(out)
    assert "q2" not in ds.queries
    again = prepare_dataset("tiny", tmp_path / "again", mirrors=[out.parent])
    assert again["counts"] == m["counts"]


def test_beir_dataset_cut_at_a_line_boundary_fails_on_its_published_size(tiny_beir, tmp_path, monkeypatch):
    """A judged-free tail lost from a known BEIR dataset leaves no dangling qrels: its published size catches it."""
    mirror = tmp_path / "beir"
    shutil.copytree(tiny_beir, mirror / "scifact-like")
    counts = {"corpus.jsonl": 6, "queries.jsonl": 3, "qrels/test.tsv": 4}
    monkeypatch.setitem(sources.BEIR_COUNTS, "scifact-like", counts)
    prepare_dataset("scifact-like", tmp_path / "ok", mirrors=[mirror], splits=["test"])
    _cut_last_lines(mirror / "scifact-like" / "corpus.jsonl", 1)  # document 6: not judged
    with pytest.raises(IrlensError, match=r"scifact-like/corpus\.jsonl: 5 records, BEIR has 6 .*restore"):
        prepare_dataset("scifact-like", tmp_path / "out", mirrors=[mirror], splits=["test"])


def test_cli_empty_query_is_one_line(tiny_beir, tmp_path):
    _set_text(tiny_beir / "queries.jsonl", "q1", " ")
    args = [sys.executable, "-m", "irlens", "data", "--dataset", "tiny", "--out", str(tmp_path / "o")]
    p = subprocess.run([*args, "--mirror", str(tiny_beir.parent)], capture_output=True, text=True)
    err = [line for line in p.stderr.splitlines() if line.startswith("irlens") and " error: " in line]
    assert p.returncode == 2 and len(err) == 1 and "(q1)" in err[0] and "Traceback" not in p.stderr
    p = subprocess.run([*args, "--mirror", str(tiny_beir.parent), "--empty-texts", "drop"], capture_output=True)
    assert p.returncode == 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["dropped"]["query_ids"] == ["q1"]


@pytest.mark.parametrize("name", ["scifact", "nfcorpus"])
def test_shared_mirror_passes_the_default_checks(name, tmp_path):
    """The embedded datasets have no empty texts, no dangling qrels and BEIR's published sizes."""
    from conftest import SHARED_BEIR

    if not SHARED_BEIR.is_dir():
        pytest.skip("../shared/data/beir not present (only on the project's machines)")
    m = prepare_dataset(name, tmp_path / "out", mirrors=[SHARED_BEIR])
    assert m["dropped"] == {"empty_queries": 0, "empty_documents": 0} and m["dangling_qrels"] == {}
    assert m["counts"]["corpus"] == sources.BEIR_COUNTS[name]["corpus.jsonl"]
