"""irlens.io: outputs get the permissions a plain ``open``/``mkdir`` would give under the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from irlens.errors import IrlensError
from irlens.io import atomic_dir, atomic_path, current_umask, default_mode, write_json, write_npy, write_text


@pytest.fixture
def umask():
    """Set the process umask for the test; the old one is restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_follow_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    assert default_mode() == expected
    write_text(tmp_path / "a.txt", "x")
    write_json(tmp_path / "b.json", {"a": 1})
    write_npy(np.zeros(3), tmp_path / "c.npy")
    with atomic_path(tmp_path / "d.tsv") as tmp, open(tmp, "w") as fh:
        fh.write("x\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert mode(plain) == expected
    for name in ("a.txt", "b.json", "c.npy", "d.tsv"):
        assert mode(tmp_path / name) == expected, name


def test_atomic_path_replaces_a_file_with_the_umask_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o600)
    write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o644


@pytest.mark.parametrize("mask, expected", [(0o022, 0o755), (0o077, 0o700)])
def test_atomic_dir_follows_umask_and_replaces(tmp_path, umask, mask, expected):
    umask(mask)
    out = tmp_path / "model"
    for text in ("first", "second"):
        with atomic_dir(out) as tmp:
            (tmp / "f.txt").write_text(text)
    assert mode(out) == expected
    assert (out / "f.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp or old folder left


def test_atomic_dir_failure_keeps_the_old_folder(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "f.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "f.txt").write_text("half")
        raise RuntimeError("killed")
    assert (out / "f.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_sae_model_folder_follows_umask(tmp_path, umask):
    from irlens.sae.config import SAEConfig
    from irlens.sae.model import TopKSAE
    from irlens.sae.train import save_model

    umask(0o022)
    save_model(TopKSAE(SAEConfig(d_model=4, n_latents=8, k=2), seed=0), {"x": 1}, tmp_path / "sae")
    assert mode(tmp_path / "sae") == 0o755
    assert all(mode(p) == 0o644 for p in (tmp_path / "sae").iterdir())


def test_cross_encoder_model_folder_follows_umask(tmp_path, umask):
    from irlens.cross_encoder.train import save_model_folder

    class Saves:
        def __init__(self, name):
            self.name = name

        def save_pretrained(self, folder):
            Path(folder, self.name).write_text("{}")

    umask(0o022)
    save_model_folder(Saves("config.json"), Saves("tokenizer.json"), tmp_path / "ce", {"steps": 1})
    assert mode(tmp_path / "ce") == 0o755
    assert {p.name: mode(p) for p in (tmp_path / "ce").iterdir()} == {
        "config.json": 0o644,
        "tokenizer.json": 0o644,
        "training.json": 0o644,
    }


def test_atomic_dir_refuses_to_replace_a_file(tmp_path):
    # `sae train --out some/corpus.npy` must not rename the user's file aside and put a folder there
    f = tmp_path / "corpus.npy"
    f.write_bytes(b"data")
    with pytest.raises(IrlensError, match="is a file, but a folder goes there"):
        with atomic_dir(f) as tmp:
            (tmp / "x").write_text("x")
    assert f.read_bytes() == b"data"
