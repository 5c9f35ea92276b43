"""``irlens models list``: where each model id resolves (local package, folder or hub)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from irlens.errors import IrlensError

log = logging.getLogger("irlens")


def cmd_models_list(a: argparse.Namespace) -> None:
    """``irlens models list``: where each model id resolves, and its sha256."""
    from irlens.models.resolve import KNOWN_LOCAL, resolve_model

    ids = list(a.ids)
    if a.config:
        import yaml

        cfg = yaml.safe_load(Path(a.config).read_text())
        for spec in (cfg.get("models") or {}).values():
            if isinstance(spec, dict) and "id" in spec:
                ids.append(spec["id"])
        local_dirs = a.local_dir or (cfg.get("resources", {}) or {}).get("model_dirs", [])
    else:
        local_dirs = a.local_dir or []
    if not ids:
        ids = list(KNOWN_LOCAL)
    width = max(len(i) for i in ids)
    bad = 0
    for mid in dict.fromkeys(ids):
        try:
            r = resolve_model(mid, local_dirs, allow_hub=not a.offline)
            print(f"{mid:<{width}}  {r.source:<28} {r.path}  sha256={(r.sha256 or '?')[:12]}")
        except IrlensError as e:
            bad += 1
            print(f"{mid:<{width}}  {'UNRESOLVED':<28} {e}")
    if bad and a.strict:
        raise IrlensError(f"{bad} model(s) could not be resolved")


def add_parser(sub) -> None:
    """Register ``irlens models ...`` on the top-level subparsers ``sub``."""
    m = sub.add_parser("models", help="model resolution")
    msub = m.add_subparsers(dest="models_cmd", required=True)
    ml = msub.add_parser("list", help="show where each model id resolves")
    ml.add_argument("ids", nargs="*")
    ml.add_argument("--config", help="a config.yaml whose models to list")
    ml.add_argument("--local-dir", action="append")
    ml.add_argument("--offline", action="store_true", help="never contact the hub")
    ml.add_argument("--strict", action="store_true", help="exit 2 if any model is unresolved")
    ml.set_defaults(func=cmd_models_list)
