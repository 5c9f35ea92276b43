"""irlens.resume: one ``<out>.partial/`` spelling, chunk stores valid for one key, training checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.resume import Partial, digest, drop_partial, fingerprint, partial_dir


def test_partial_dir_is_beside_the_output(tmp_path):
    assert partial_dir(tmp_path / "corpus.npy") == tmp_path / "corpus.npy.partial"
    assert partial_dir(tmp_path / "model") == tmp_path / "model.partial"


def test_chunks_survive_a_rerun_with_the_same_key_only(tmp_path):
    out = tmp_path / "x.jsonl"
    p = Partial.for_output(out, "k1")
    p.save("c0", {"a": [1, 2]})
    p.save_array("c1", np.arange(3, dtype=np.float32))
    again = Partial.for_output(out, "k1")
    assert again.load("c0") == {"a": [1, 2]} and again.load_array("c1").tolist() == [0.0, 1.0, 2.0]
    assert again.reused == 2 and again.load("missing") is None and again.load_array("missing") is None
    other = Partial.for_output(out, "k2")  # other inputs or settings: the old chunks are discarded
    assert other.load("c0") is None and other.load_array("c1") is None
    drop_partial(out)
    assert not partial_dir(out).exists()


def test_a_broken_chunk_counts_as_missing(tmp_path):
    p = Partial(tmp_path / "p", "k")
    (p.dir / "c0.json").write_text("{not json")
    (p.dir / "c1.npy").write_bytes(b"garbage")
    assert p.load("c0") is None and p.load_array("c1") is None and p.reused == 0


def test_keys_depend_on_every_part():
    assert fingerprint("a", {"x": 1, "y": 2}) == fingerprint("a", {"y": 2, "x": 1})
    assert fingerprint("a", 1) != fingerprint("a", 2)
    assert digest(["a", "b"]) != digest(["ab"]) and digest([("a", "b")]) == digest(["a\tb"])


def test_training_checkpoint_round_trip(tmp_path):
    import torch

    from irlens.resume import load_checkpoint, save_checkpoint

    def objects():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        return model, opt, sched

    model, opt, sched = objects()
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    save_checkpoint(tmp_path / "m.partial", "key", 1, [{"loss": 0.5}], model, opt, sched)
    m2, o2, s2 = objects()
    assert load_checkpoint(tmp_path / "m.partial", "other", m2, o2, s2, "cpu", 5) == (0, [])  # discarded
    assert not (tmp_path / "m.partial").exists()
    save_checkpoint(tmp_path / "m.partial", "key", 1, [{"loss": 0.5}], model, opt, sched)
    assert load_checkpoint(tmp_path / "m.partial", "key", m2, o2, s2, "cpu", 5) == (1, [{"loss": 0.5}])
    assert torch.equal(m2.weight, model.weight) and s2.state_dict() == sched.state_dict()


class _RunsCode:
    """Unpickling this calls ``_planted(path)``: what a crafted checkpoint could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (_planted, (self.path,))


def _planted(path):
    with open(path, "w") as fh:
        fh.write("ran")


def test_checkpoint_with_a_pickled_object_is_refused_not_run(tmp_path):
    import torch

    from irlens.errors import IrlensError
    from irlens.resume import load_checkpoint

    partial = tmp_path / "m.partial"
    partial.mkdir()
    marker = tmp_path / "ran.txt"
    torch.save({"key": "key", "step": 1, "log": [_RunsCode(marker)]}, partial / "checkpoint.pt")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with pytest.raises(IrlensError) as e:
        load_checkpoint(partial, "key", model, opt, sched, "cpu", 5)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{partial / 'checkpoint.pt'}: refused to load")
    assert "_planted" in msg and f"delete {partial}" in msg
    assert not marker.exists()  # never executed
    (partial / "checkpoint.pt").write_bytes(b"not a zip")
    with pytest.raises(IrlensError, match=r"checkpoint.pt: not a readable checkpoint .*; delete"):
        load_checkpoint(partial, "key", model, opt, sched, "cpu", 5)


def test_checkpoint_log_with_numpy_numbers_loads_weights_only(tmp_path):
    import torch

    from irlens.resume import load_checkpoint, save_checkpoint

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    rows = [[1, np.float32(0.5), np.float64(0.25), torch.tensor(2.0)]]
    save_checkpoint(tmp_path / "m.partial", "key", 1, rows, model, opt, sched)
    assert load_checkpoint(tmp_path / "m.partial", "key", model, opt, sched, "cpu", 5) == (1, [[1, 0.5, 0.25, 2.0]])
