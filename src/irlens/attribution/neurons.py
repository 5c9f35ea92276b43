"""The neuron layout shared by NIG and ablation: which Linear outputs of a transformer encoder are the
"neurons" of arXiv 2406.19309 (§3.2), in (layer, component) order, and where each sits in the flat neuron
vector (``offset`` .. ``offset + units``).

BERT-like encoders (BERT, RoBERTa, ELECTRA, MiniLM) and DistilBERT are supported. :func:`neuron_layout`
gives the hooked Linears, :func:`neuron_table` one row per neuron (the ``neurons.parquet`` of NIG and the
key of ablation masks).
"""

from __future__ import annotations

from dataclasses import dataclass

from irlens.errors import IrlensError

#: Components of a transformer layer whose Linear outputs are the paper's "neurons", in layer order.
COMPONENTS = ("query", "key", "value", "attention_output", "intermediate", "output")
#: Module paths (relative to one encoder layer) of each component, per architecture family.
LAYOUTS = {
    "bert": {  # BERT, RoBERTa, ELECTRA, MiniLM
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attention_output": "attention.output.dense",
        "intermediate": "intermediate.dense",
        "output": "output.dense",
    },
    "distilbert": {
        "query": "attention.q_lin",
        "key": "attention.k_lin",
        "value": "attention.v_lin",
        "attention_output": "attention.out_lin",
        "intermediate": "ffn.lin1",
        "output": "ffn.lin2",
    },
}


@dataclass(frozen=True)
class Neuron:
    """One hooked Linear: ``units`` consecutive entries starting at ``offset`` in the neuron vector."""

    layer: int
    component: str
    module: str  # full module name inside the HF model
    units: int
    offset: int


def encoder_layers(model):
    """``(name, ModuleList)`` of the transformer layers of an HF encoder model (BERT-like or DistilBERT)."""
    import torch

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) and name.rsplit(".", 1)[-1] in ("layer", "layers"):
            for family, layout in LAYOUTS.items():
                try:
                    for path in layout.values():
                        mod[0].get_submodule(path)
                except AttributeError:
                    continue
                return name, mod, family
    raise IrlensError(
        f"model {type(model).__name__}: no encoder layer list with q/k/v/FFN Linears found "
        "(NIG supports BERT-like and DistilBERT encoders)"
    )


def neuron_layout(model, components=COMPONENTS) -> list[Neuron]:
    """The hooked Linears of ``model`` in (layer, component) order with their offsets in the neuron vector."""
    name, layers, family = encoder_layers(model)
    layout = LAYOUTS[family]
    out, offset = [], 0
    for i, layer in enumerate(layers):
        for comp in components:
            if comp not in layout:
                raise IrlensError(f"NIG component '{comp}': choose from {', '.join(COMPONENTS)}")
            lin = layer.get_submodule(layout[comp])
            out.append(Neuron(i, comp, f"{name}.{i}.{layout[comp]}", int(lin.out_features), offset))
            offset += int(lin.out_features)
    return out


def neuron_table(layout: list[Neuron]):
    """A DataFrame with one row per neuron: index, layer, component, unit, module."""
    import pandas as pd

    rows = {"layer": [], "component": [], "unit": [], "module": []}
    for n in layout:
        rows["layer"] += [n.layer] * n.units
        rows["component"] += [n.component] * n.units
        rows["unit"] += list(range(n.units))
        rows["module"] += [n.module] * n.units
    df = pd.DataFrame(rows)
    df.index.name = "neuron"
    return df
