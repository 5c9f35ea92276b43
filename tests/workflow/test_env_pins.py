"""One set of pins: pyproject.toml, requirements.lock and the per-family conda envs envs/<family>.yaml agree."""

import re

import pytest
import tomllib
import yaml

from conftest import REPO


def lock():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def norm(spec):
    name, version = spec.split("==")
    return re.sub(r"[-_.]+", "-", name).lower(), version


def test_pyproject_pins_are_exact_and_locked():
    pp = tomllib.loads((REPO / "pyproject.toml").read_text())
    specs = pp["project"]["dependencies"] + sum(pp["project"]["optional-dependencies"].values(), [])
    pins = lock()
    for spec in specs:
        assert "==" in spec, f"pyproject.toml: {spec} is not an exact pin"
        name, version = norm(spec)
        assert pins.get(name) == version, f"{name}: pyproject {version} vs requirements.lock {pins.get(name)}"
    assert pins["torch"] == "2.13.0"


def test_conda_envs_pinned_and_agree_with_lock():
    """Every env spec parses as conda MatchSpecs (py-rattler, offline), each an exact ``==`` pin, and its
    pip section agrees with requirements.lock. (Conda channels are unreachable here: this, lint and the
    dry run are what validates the ``--use-conda`` path.)"""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    pins = lock()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert spec["channels"] == ["conda-forge", "nodefaults"], env
        conda_names = []
        for dep in spec["dependencies"]:
            if isinstance(dep, dict):
                for p in dep["pip"]:
                    name, version = norm(p)
                    assert pins.get(name) == version, f"{env.name}: {p} vs requirements.lock {pins.get(name)}"
            else:
                m = MatchSpec(dep, strict=True)  # raises on bad syntax
                version = str(m.version) if m.version is not None else ""
                # `python=3.11.7` would be the fuzzy 3.11.7.*: only `==x.y.z` is an exact pin
                assert re.fullmatch(r"==[0-9][0-9a-z.]*", version), (
                    f"{env.name}: '{dep}' is not an exact conda pin (parsed as '{version}'); write name==version"
                )
                conda_names.append(dep.split("==")[0])
        assert "python" in conda_names and "pip" in conda_names, env
    with pytest.raises(InvalidMatchSpecError):
        MatchSpec("python==3.11.7 ===", strict=True)  # the parser does reject bad specs


#: pyproject runtime dependencies no rule env needs: Snakemake (and jsonschema, which its
#: ``snakemake.utils.validate`` of the config uses) run the workflow outside the rule envs; seaborn is
#: imported nowhere (drop it from pyproject.toml, then from here)
NOT_IN_RULE_ENVS = {"snakemake", "jsonschema", "seaborn"}
FAMILIES = {"data", "retrieval", "report", "training", "attribution", "sae"}


def _pip_pins(env):
    spec = yaml.safe_load(env.read_text())
    return dict(norm(p) for d in spec["dependencies"] if isinstance(d, dict) for p in d["pip"])


def test_one_env_per_family_covering_the_runtime_dependencies():
    """The rule envs are the families' (no catch-all env); together they hold every runtime dependency
    of pyproject.toml but the workflow driver's, and nothing pyproject does not list (extras included)."""
    envs = {e.stem: _pip_pins(e) for e in (REPO / "envs").glob("*.yaml")}
    assert set(envs) == FAMILIES
    pp = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = {norm(s)[0] for s in pp["project"]["dependencies"]}
    extras = {norm(s)[0] for s in sum(pp["project"]["optional-dependencies"].values(), [])}
    union = set().union(*envs.values())
    assert runtime - NOT_IN_RULE_ENVS <= union, f"in no env: {sorted(runtime - NOT_IN_RULE_ENVS - union)}"
    assert NOT_IN_RULE_ENVS <= runtime, (
        f"not in pyproject any more: {sorted(NOT_IN_RULE_ENVS - runtime)}; update NOT_IN_RULE_ENVS"
    )
    assert not union & NOT_IN_RULE_ENVS, sorted(union & NOT_IN_RULE_ENVS)
    assert union <= runtime | extras, f"not in pyproject.toml: {sorted(union - runtime - extras)}"
    assert "snakemake" not in union  # src/irlens never imports snakemake


def test_every_rule_names_an_existing_env():
    text = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    named = set(re.findall(r'conda:\s*\n\s*"([^"]+)"', text))
    assert named
    for env in named:
        assert (REPO / "workflow/rules" / env).resolve().is_file(), env


def test_every_rule_has_log_benchmark_threads_conda():
    text = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules = re.split(r"\nrule (\w+):", text)[1:]
    assert rules
    for name, body in zip(rules[::2], rules[1::2]):
        for key in ("log:", "benchmark:", "threads:", "conda:"):
            assert key in body, f"rule {name} lacks {key}"


def _post_deploy(script, cwd, tmp_path, irlens_src=None):
    """Run ``script`` (an envs/*.post-deploy.sh) as Snakemake does (from ``cwd``, in the env) with a fake ``python``
    that records its arguments; returns (process, recorded arguments or None)."""
    import os
    import subprocess

    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "python").write_text('#!/bin/sh\necho "$@" > "$RECORD"\n')
    (fake / "python").chmod(0o755)
    record = tmp_path / "record.txt"
    env = {k: v for k, v in os.environ.items() if k != "IRLENS_SRC"}
    env.update(
        PATH=f"{fake}:{os.environ['PATH']}",
        RECORD=str(record),
        **({"IRLENS_SRC": str(irlens_src)} if irlens_src else {}),
    )
    p = subprocess.run(["bash", str(script)], cwd=cwd, env=env, capture_output=True, text=True)
    return p, (record.read_text().split() if record.exists() else None)


def test_every_env_installs_the_package(tmp_path):
    """Each env file has a post-deploy script that installs this checkout's irlens into the env (editable,
    no dependencies: the env pins them); outside the checkout it stops with one clear line. Snakemake
    copies the script into .snakemake/conda/ before running it, so each is self-contained."""
    scripts = []
    for env in sorted((REPO / "envs").glob("*.yaml")):
        script = env.with_suffix(".post-deploy.sh")
        assert script.is_file(), f"{env.name}: no post-deploy script installing irlens"
        scripts.append(script)
    assert sorted(p.name for p in (REPO / "envs").glob("*.post-deploy.sh")) == sorted(p.name for p in scripts), (
        "a post-deploy script without its env"
    )
    for script in scripts:
        runs = [tmp_path / script.stem / n for n in ("repo", "elsewhere", "elsewhere-with-src")]
        for d in runs:
            d.mkdir(parents=True)
        p, args = _post_deploy(script, REPO, runs[0])
        assert p.returncode == 0, (script.name, p.stderr)
        assert args == ["-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-e", str(REPO)], (
            script.name
        )
        p, args = _post_deploy(script, runs[1], runs[1])
        assert p.returncode == 1 and args is None, (script.name, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "set IRLENS_SRC" in p.stderr, (script.name, p.stderr)
        p, args = _post_deploy(script, runs[2], runs[2], irlens_src=REPO)
        assert p.returncode == 0 and args[-1] == str(REPO), (script.name, p.stderr)
