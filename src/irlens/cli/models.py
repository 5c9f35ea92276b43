"""``irlens models list``: where each model id resolves (local package, folder or hub)."""

from __future__ import annotations

import argparse
import logging

from irlens.errors import IrlensError

log = logging.getLogger("irlens")


def cmd_models_list(a: argparse.Namespace) -> None:
    """``irlens models list``: where each model id resolves, and its sha256."""
    from irlens.models.resolve import KNOWN_LOCAL, parse_pins, resolve_model

    ids = list(a.ids)
    pins = parse_pins(a.pin)
    if a.config:
        from irlens.cli.common import read_yaml_mapping

        cfg = read_yaml_mapping(a.config, "--config")
        if not isinstance(cfg.get("models") or {}, dict):
            raise IrlensError(f"{a.config}: 'models' is not a mapping of model entries; check --config")
        for spec in (cfg.get("models") or {}).values():
            if isinstance(spec, dict) and "id" in spec:
                ids.append(spec["id"])
        resources = cfg.get("resources") or {}
        local_dirs = a.local_dir or (resources.get("model_dirs", []) if isinstance(resources, dict) else [])
        pinned = (resources.get("model_sha256") or {}) if isinstance(resources, dict) else {}
        if not isinstance(pinned, dict):
            raise IrlensError(f"{a.config}: resources.model_sha256 is not a mapping of model id -> sha256")
        pins = {**parse_pins((f"{k}={v}" for k, v in pinned.items()), f"{a.config}: resources.model_sha256"), **pins}
    else:
        local_dirs = a.local_dir or []
    if not ids:
        ids = list(KNOWN_LOCAL)
    width = max(len(i) for i in ids)
    bad = 0
    for mid in dict.fromkeys(ids):
        try:
            r = resolve_model(mid, local_dirs, allow_hub=not a.offline, pins=pins)
            pin = " (pinned)" if mid in pins or r.id in pins else ""
            print(f"{mid:<{width}}  {r.source:<28} {r.path}  sha256={(r.sha256 or '?')[:12]}{pin}")
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
    ml.add_argument(
        "ids", nargs="*", help="HF ids or folders to resolve (default: --config's models, else the packaged ones)"
    )
    ml.add_argument("--config", help="a config.yaml whose models to list")
    ml.add_argument(
        "--local-dir",
        action="append",
        help="local model folder(s) (<dir>/<org>__<name>/); default: the config's resources.model_dirs",
    )
    ml.add_argument("--pin", action="append", help="<id>=<sha256>: that id's weights must have this sha256 (repeat)")
    ml.add_argument("--offline", action="store_true", help="never contact the hub")
    ml.add_argument("--strict", action="store_true", help="exit 2 if any model is unresolved")
    ml.set_defaults(func=cmd_models_list)
