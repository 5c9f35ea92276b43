"""irlens TopK SAEs in the SAELens format (irlens.sae.saelens). Exported folders are loaded with the real
``sae_lens`` package (a hard test dependency: pyproject's ``test`` extra pins it) and must encode and decode
as irlens does; SAELens folders read back into irlens exactly. Tiny random SAEs, CPU, float32.
``sae_lens`` is imported inside the tests (~10 s, once), not at collection, and never skipped: a missing
package fails them."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from irlens.cli import main
from irlens.errors import IrlensError
from irlens.sae.config import SAEConfig
from irlens.sae.model import TopKSAE
from irlens.sae.saelens import (
    CFG_FILE,
    SPARSITY_FILE,
    WEIGHTS_FILE,
    export_saelens,
    firing_frequencies,
    load_saelens,
    read_saelens,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D, L, K = 16, 64, 4


def random_sae(tied: bool = False, seed: int = 0, **cfg) -> TopKSAE:
    """A TopKSAE as TopKSAE.__init__ builds it (unit decoder columns, tied init), then non-zero biases and, when
    untied, an encoder moved away from ``W_decᵀ``; ``b_enc`` mostly negative so that ReLU zeroes some top-k values."""
    model = TopKSAE(SAEConfig(d_model=D, n_latents=L, k=K, tied=tied, **cfg), seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.b_pre.copy_(torch.randn(D, generator=g))
        model.b_enc.copy_(0.5 * torch.randn(L, generator=g) - 1.0)
        if not tied:
            model.W_enc.add_(0.3 * torch.randn(L, D, generator=g))
    return model.eval()


def inputs(n: int = 64, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed))


def load_with_saelens(folder):
    from sae_lens import SAE

    return SAE.load_from_disk(str(folder), device="cpu", dtype="float32")


@pytest.mark.parametrize("tied", [False, True])
def test_saelens_loads_the_export_and_computes_what_irlens_does(tmp_path, tied):
    from sae_lens import TopKSAE as SaeLensTopK

    model = random_sae(tied=tied)
    near_b_pre = model.b_pre.detach() + 0.1 * inputs(8, seed=3)  # pre-activations ≈ b_enc: ReLU zeroes kept values
    x = torch.cat([inputs(), near_b_pre])
    freq = firing_frequencies(model, x.numpy())
    out = export_saelens(model, tmp_path / "sl", frequencies=freq, frequency_source="64 random rows")
    assert sorted(p.name for p in out.iterdir()) == sorted([CFG_FILE, WEIGHTS_FILE, SPARSITY_FILE])

    sae = load_with_saelens(out)
    assert type(sae) is SaeLensTopK
    assert (sae.cfg.d_in, sae.cfg.d_sae, sae.cfg.k) == (D, L, K)
    assert sae.cfg.apply_b_dec_to_input is True
    assert sae.cfg.normalize_activations == "none" and sae.cfg.rescale_acts_by_decoder_norm is False
    assert sae.W_enc.dtype == torch.float32 and tuple(sae.W_enc.shape) == (D, L) and tuple(sae.W_dec.shape) == (L, D)
    assert sae.cfg.metadata.hook_name == "sentence_embedding"
    assert sae.cfg.metadata.irlens["sae"] == asdict(model.cfg)
    # the parameters, exactly: SAELens W_enc = irlens encoder rowsᵀ, W_dec = irlens W_decᵀ, b_dec = b_pre
    assert torch.equal(sae.W_enc, model._enc_rows().detach().T)
    assert torch.equal(sae.W_dec, model.W_dec.detach().T)
    assert torch.equal(sae.b_dec, model.b_pre.detach()) and torch.equal(sae.b_enc, model.b_enc.detach())

    with torch.no_grad():
        z_irlens, z_sl = model.encode(x), sae.encode(x)
        torch.testing.assert_close(z_sl, z_irlens, atol=1e-5, rtol=0)
        assert torch.equal(z_sl != 0, z_irlens != 0)  # the same top-k latents fire
        nnz = (z_irlens != 0).sum(1)
        assert int(nnz.max()) == K and int(nnz.min()) < K  # ≤ k each; ReLU zeroed some kept values
        torch.testing.assert_close(sae.decode(z_irlens), model.decode(z_irlens), atol=1e-5, rtol=0)
        torch.testing.assert_close(sae(x), model.decode(z_irlens), atol=1e-5, rtol=0)

    # sparsity.safetensors as SAELens reads it (sae_lens_huggingface_loader: key "sparsity", log10)
    with safe_open(str(out / SPARSITY_FILE), framework="pt") as f:
        log_sparsity = f.get_tensor("sparsity")
    expected = (z_irlens > 0).float().mean(0).double()
    torch.testing.assert_close(log_sparsity.double(), torch.log10(expected + 1e-10), atol=1e-6, rtol=0)


@pytest.mark.parametrize("tied", [False, True])
def test_round_trip_gives_identical_parameters_and_outputs(tmp_path, tied):
    model = random_sae(tied=tied, aux_k=8, dead_after=123)
    export_saelens(model, tmp_path / "sl")
    assert not (tmp_path / "sl" / SPARSITY_FILE).exists()  # no frequencies given: no sparsity file
    back = load_saelens(tmp_path / "sl")
    assert asdict(back.cfg) == asdict(model.cfg)
    params, back_params = dict(model.named_parameters()), dict(back.named_parameters())
    assert params.keys() == back_params.keys()
    for name, p in params.items():
        assert torch.equal(back_params[name], p), name
    x = inputs()
    with torch.no_grad():
        assert torch.equal(back.encode(x), model.encode(x))
        assert torch.equal(back.decode(model.encode(x)), model.decode(model.encode(x)))


def test_refining_model_needs_encoder_codes_and_round_trips(tmp_path):
    model = random_sae(refine_steps=5, refine_step=2.0, refine_momentum=0.5)
    with pytest.raises(IrlensError, match="refines its codes with 5 IHT steps"):
        export_saelens(model, tmp_path / "sl")
    assert not (tmp_path / "sl").exists()
    export_saelens(model, tmp_path / "sl", encoder_codes=True)
    sae = load_with_saelens(tmp_path / "sl")
    x = inputs()
    with torch.no_grad():
        z_enc = model.scatter(*model.encode_topk(x, refine_steps=0))
        torch.testing.assert_close(sae.encode(x), z_enc, atol=1e-5, rtol=0)
        back = load_saelens(tmp_path / "sl")
        assert asdict(back.cfg) == asdict(model.cfg)  # refine settings come back from metadata.irlens
        assert torch.equal(back.encode(x), model.encode(x))


def test_saelens_options_are_folded_on_import(tmp_path):
    """A SAELens TopK SAE with rescale_acts_by_decoder_norm, apply_b_dec_to_input false and non-unit decoder rows
    (as SAELens may write them) reads into irlens with the same encode/decode as SAELens computes."""
    model = random_sae()
    folder = export_saelens(model, tmp_path / "sl")
    w = load_file(str(folder / WEIGHTS_FILE))
    w["W_dec"] = w["W_dec"] * torch.linspace(0.5, 2.0, L)[:, None]
    save_file(w, str(folder / WEIGHTS_FILE))
    cfg = json.loads((folder / CFG_FILE).read_text())
    cfg.update(rescale_acts_by_decoder_norm=True, apply_b_dec_to_input=False)
    cfg["metadata"].pop("irlens")
    (folder / CFG_FILE).write_text(json.dumps(cfg))

    sae = load_with_saelens(folder)
    back, _, folded = read_saelens(folder)
    assert folded == ["rescale_acts_by_decoder_norm", "apply_b_dec_to_input false"]
    assert back.cfg.tied is False and back.cfg.aux_k == SAEConfig(D, L, K).aux_k
    x = inputs()
    with torch.no_grad():
        z_sl, z = sae.encode(x), back.encode(x)
        torch.testing.assert_close(z, z_sl, atol=1e-5, rtol=0)
        assert torch.equal(z != 0, z_sl != 0)
        torch.testing.assert_close(back.decode(z), sae.decode(z_sl), atol=1e-5, rtol=0)


def _edit_cfg(folder, **changes):
    cfg = json.loads((folder / CFG_FILE).read_text())
    cfg.update(changes)
    (folder / CFG_FILE).write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda f: (f / CFG_FILE).unlink(), "cfg.json: not found"),
        (lambda f: (f / CFG_FILE).write_text("{not json"), "not a JSON SAELens config"),
        (lambda f: _edit_cfg(f, architecture="jumprelu"), "architecture 'jumprelu', not 'topk'"),
        (lambda f: _edit_cfg(f, architecture=None), "no 'architecture'"),
        (lambda f: _edit_cfg(f, normalize_activations="layer_norm"), "normalize_activations 'layer_norm'"),
        (lambda f: _edit_cfg(f, reshape_activations="hook_z"), "reshape_activations 'hook_z'"),
        (lambda f: _edit_cfg(f, d_in=32), r"W_enc \(16, 64\) \(expected \(32, 64\)\)"),
        (lambda f: _edit_cfg(f, k=0), "k=0"),
        (lambda f: _edit_cfg(f, k=L + 1), "k=65 must be in 1..n_latents=64"),
        (
            lambda f: save_file(
                {k: v for k, v in load_file(str(f / WEIGHTS_FILE)).items() if k != "b_enc"}, str(f / WEIGHTS_FILE)
            ),
            "tensors W_dec, W_enc, b_dec",
        ),
        (lambda f: (f / WEIGHTS_FILE).write_bytes(b"garbage"), "cannot read SAE weights"),
    ],
)
def test_a_bad_folder_is_one_irlens_error(tmp_path, spoil, message):
    folder = export_saelens(random_sae(), tmp_path / "sl")
    spoil(folder)
    with pytest.raises(IrlensError, match=message) as e:
        load_saelens(folder)
    assert "\n" not in str(e.value)


def test_missing_folder_and_irlens_folder_are_errors(tmp_path):
    with pytest.raises(IrlensError, match="SAELens SAE folder not found"):
        load_saelens(tmp_path / "nope")
    random_sae().save(tmp_path / "irlens")  # an irlens model folder is not a SAELens one ...
    with pytest.raises(IrlensError, match="cfg.json: not found"):
        load_saelens(tmp_path / "irlens")
    with pytest.raises(IrlensError, match="refusing to replace it"):  # ... nor overwritten by an export
        export_saelens(random_sae(), tmp_path / "irlens")
    assert (tmp_path / "irlens" / "model.safetensors").is_file()


def test_a_failed_export_leaves_no_folder(tmp_path, monkeypatch):
    import safetensors.torch

    real, calls = safetensors.torch.save_file, []

    def save_then_fail(tensors, path, metadata=None):  # the weights are written, then the sparsity file fails
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", save_then_fail)
    model = random_sae()
    with pytest.raises(OSError):
        export_saelens(model, tmp_path / "sl", frequencies=firing_frequencies(model, inputs().numpy()))
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def _embeddings(folder, x: np.ndarray, model_id: str) -> None:
    folder.mkdir(parents=True)
    np.save(folder / "corpus.npy", x.astype(np.float32))
    (folder / "corpus.json").write_text(
        json.dumps({"ids": [f"d{i}" for i in range(len(x))], "model": {"id": model_id}})
    )


def test_cli_export_and_import(tmp_path, capsys):
    model = random_sae()
    mid = "sentence-transformers/all-MiniLM-L6-v2"
    model.save(tmp_path / "m", extra={"data": {"parts": [{"name": "toy", "model": mid}]}, "history": [{"epoch": 1}]})
    x = inputs(40).numpy()
    _embeddings(tmp_path / "emb", x, mid)
    sl, back = tmp_path / "sl", tmp_path / "back"
    cmd = [
        "sae",
        "export-saelens",
        "--model",
        str(tmp_path / "m"),
        "--out",
        str(sl),
        "--embeddings",
        str(tmp_path / "emb"),
    ]
    assert main(cmd) == 0
    sae = load_with_saelens(sl)
    assert sae.cfg.metadata.model_name == mid and sae.cfg.metadata.hook_name == f"sentence_embedding:{mid}"
    assert sae.cfg.metadata.irlens["data"]["parts"][0]["name"] == "toy" and "history" not in sae.cfg.metadata.irlens
    with safe_open(str(sl / SPARSITY_FILE), framework="pt") as f:
        expected = np.log10(firing_frequencies(model, x) + 1e-10)
        np.testing.assert_allclose(f.get_tensor("sparsity").numpy(), expected, atol=1e-6)

    assert main(["sae", "import-saelens", "--saelens", str(sl), "--out", str(back)]) == 0
    loaded, meta = TopKSAE.load(back)
    assert meta["saelens"]["hook_name"] == f"sentence_embedding:{mid}" and meta["data"]["parts"][0]["model"] == mid
    for name, p in model.named_parameters():
        assert torch.equal(dict(loaded.named_parameters())[name], p), name

    capsys.readouterr()
    assert main(["sae", "export-saelens", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert main(["sae", "import-saelens", "--saelens", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("irlens sae export-saelens: error: ") and "nope" in err[1]
    assert not (tmp_path / "o").exists()

    random_sae(refine_steps=3).save(tmp_path / "refining")
    refining = ["sae", "export-saelens", "--model", str(tmp_path / "refining"), "--out", str(tmp_path / "o")]
    assert main(refining) == 2 and "--encoder-codes" in capsys.readouterr().err
    assert main(refining + ["--encoder-codes"]) == 0 and (tmp_path / "o" / CFG_FILE).is_file()
