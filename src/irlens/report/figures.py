"""Generic figure helpers used by every stage: a headless pyplot and atomic PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

from irlens.io import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend (no display needed, same pixels everywhere)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, png: str | Path, pdf: bool = True) -> None:
    """Write ``fig`` to ``png`` (150 dpi) and, with ``pdf``, to the ``.pdf`` beside it, atomically; closes it."""
    import matplotlib.pyplot as plt

    png = Path(png)
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    if pdf:
        with atomic_path(png.with_suffix(".pdf"), suffix=".pdf") as tmp:
            fig.savefig(tmp, bbox_inches="tight", format="pdf")
    plt.close(fig)
