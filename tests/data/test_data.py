import hashlib
import json
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
