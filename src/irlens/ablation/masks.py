"""Neuron masks: zero chosen output units of chosen Linear modules through forward hooks.

A "neuron" is one output unit of one hooked Linear (the NIG stage's definition, see
:func:`irlens.attribution.neurons.neuron_layout`). Zeroing the module's output also removes its bias, as the
paper does. A :class:`NeuronMask` is plain data — ``{module name: sorted unit indices}`` — saved to and
loaded from JSON; :func:`apply_mask` is a context manager, so the model is exactly the original again
when the block ends (the hooks are removed; weights are never touched).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from irlens.errors import IrlensError


@dataclass
class NeuronMask:
    """Units to zero per module (full module names inside the HF model)."""

    units: dict[str, list[int]] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self):
        self.units = {m: sorted({int(u) for u in us}) for m, us in self.units.items() if len(us)}

    @property
    def size(self) -> int:
        """Units masked in all modules together."""
        return sum(len(u) for u in self.units.values())

    def counts(self) -> dict[str, int]:
        """Units per module (what a random baseline must match)."""
        return {m: len(u) for m, u in self.units.items()}

    @classmethod
    def from_neurons(cls, table, name: str = "") -> NeuronMask:
        """From rows with ``module`` and ``unit`` columns (e.g. a scheme's rows of ``sets.parquet``)."""
        units: dict[str, list[int]] = {}
        for m, u in zip(table["module"], table["unit"]):
            units.setdefault(str(m), []).append(int(u))
        return cls(units, name)

    def to_json(self, path: str | Path) -> None:
        """Write the mask as ``{"name": ..., "units": {module: [unit, ...]}}`` (atomically)."""
        from irlens.io import write_json

        write_json(path, {"name": self.name, "units": self.units})

    @classmethod
    def from_json(cls, path: str | Path) -> NeuronMask:
        """Read a mask written by :meth:`to_json` (one-line error for anything else)."""
        from irlens.io import read_json

        d = read_json(path)
        if not isinstance(d, dict) or not isinstance(d.get("units"), dict):
            raise IrlensError(f"{path}: not a neuron mask (expected {{'name': ..., 'units': {{module: [unit, ...]}}}})")
        return cls(d["units"], d.get("name", ""))


def _check(model, mask: NeuronMask) -> dict:
    mods = {}
    for m, us in mask.units.items():
        try:
            mod = model.get_submodule(m)
        except AttributeError:
            raise IrlensError(
                f"mask '{mask.name}': module '{m}' is not in the model ({type(model).__name__})"
            ) from None
        width = getattr(mod, "out_features", None)
        if width is not None and us and (us[0] < 0 or us[-1] >= width):
            raise IrlensError(f"mask '{mask.name}': unit {us[-1]} of '{m}' is outside 0..{width - 1}")
        mods[m] = mod
    return mods


@contextmanager
def apply_mask(model, mask: NeuronMask):
    """Zero the mask's units in every forward pass inside the block; the model is unchanged afterwards."""
    import torch

    handles = []
    try:
        for m, mod in _check(model, mask).items():
            idx = torch.as_tensor(mask.units[m], dtype=torch.long)

            def hook(_mod, _inp, out, _idx=idx):
                out = out.clone()
                out[..., _idx.to(out.device)] = 0
                return out

            handles.append(mod.register_forward_hook(hook))
        yield model
    finally:
        for h in handles:
            h.remove()


@contextmanager
def apply_masks(model, masks: list[NeuronMask], rows_per_mask: int):
    """Several masks in one forward: rows ``[i·rows_per_mask, (i+1)·rows_per_mask)`` of every batch get
    ``masks[i]`` (per-example masks). Feed the same pairs repeated once per mask
    (``x.repeat(len(masks), 1)``); the result equals running each mask alone on its rows."""
    import torch

    per_module: dict[str, list[tuple[int, list[int]]]] = {}
    for i, mask in enumerate(masks):
        _check(model, mask)
        for m, us in mask.units.items():
            per_module.setdefault(m, []).append((i, us))
    handles = []
    try:
        for m, entries in per_module.items():
            rows = torch.cat(
                [
                    torch.arange(i * rows_per_mask, (i + 1) * rows_per_mask).repeat_interleave(len(us))
                    for i, us in entries
                ]
            )
            cols = torch.cat([torch.as_tensor(us, dtype=torch.long).repeat(rows_per_mask) for _, us in entries])

            def hook(_mod, _inp, out, _r=rows, _c=cols):
                if out.shape[0] != rows_per_mask * len(masks):
                    raise IrlensError(
                        f"apply_masks: batch of {out.shape[0]} rows, expected {rows_per_mask} x {len(masks)} masks"
                    )
                out = out.clone()
                out[_r.to(out.device), ..., _c.to(out.device)] = 0
                return out

            handles.append(model.get_submodule(m).register_forward_hook(hook))
        yield model
    finally:
        for h in handles:
            h.remove()


def random_like(mask: NeuronMask, widths: dict[str, int], rng: np.random.Generator, name: str = "") -> NeuronMask:
    """A mask with the same number of units in each of the same modules, units drawn uniformly without
    replacement (the paper's random baseline, matched per layer and component)."""
    units = {}
    for m, n in mask.counts().items():
        if m not in widths:
            raise IrlensError(f"random mask: module '{m}' has no known width")
        units[m] = sorted(rng.choice(widths[m], size=n, replace=False).tolist())
    return NeuronMask(units, name or f"random-like-{mask.name}")
