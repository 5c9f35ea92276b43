"""What a user types on the Snakemake command line: nested ``--config`` overrides, every override the
README and docs show, short messages for config mistakes, and config strings that reach shell commands
(quoted, never executed)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED_BEIR

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ENV = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}

pytestmark = pytest.mark.workflow


def _workdir(wd: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, wd / name)
    for name in ("workflow", "presets", "envs", "profiles"):
        shutil.copytree(REPO / name, wd / name)
    return wd


@pytest.fixture(scope="module")
def wd(tmp_path_factory) -> Path:
    return _workdir(tmp_path_factory.mktemp("cmdline"))


def _snakemake(wd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SNAKEMAKE + list(args), cwd=wd, capture_output=True, text=True, env=ENV)


def _commands(out: str) -> list[str]:
    """Shell commands printed by ``snakemake -n -p`` (one line each: every irlens rule is one line)."""
    prefix = "Shell command: "
    return [line[len(prefix) :].strip() for line in out.splitlines() if line.startswith(prefix + "irlens ")]


# ------------------------------------------------------------------------------------- nested overrides
def test_nested_overrides_get_the_schema_types(wd):
    p = _snakemake(
        wd,
        "-n",
        "-p",
        "--cores",
        "2",
        "--configfile",
        "presets/smoke.yaml",
        "--config",
        "ig={queries: 0, shards: 3, sides: [document]}",
        "ablation={levels: [0.1, 1], queries: 5}",
        "sae={interpret: {latents: 4}}",
        "seed=7",
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    cmds = _commands(out)
    ig = [c for c in cmds if c.startswith("irlens ig attribute")]
    assert ig and all("--shards 3 " in c for c in ig), ig[:1]
    pairs = [c for c in cmds if c.startswith("irlens ig pairs")]  # the query sample is drawn there
    assert pairs and all("--queries 0 " in c for c in pairs), pairs[:1]
    assert {re.search(r"--shard (\d+)", c).group(1) for c in ig} == {"0", "1", "2"}
    assert all("--sides document " in c for c in ig)
    evalset = [c for c in cmds if c.startswith("irlens ablation evalset")]
    assert evalset and all("--queries 5 " in c for c in evalset)
    # mappings merge: ig keeps the preset's other keys (smoke: top_k 3)
    assert all("--top-k 3 " in c for c in ig + pairs)


def test_sae_seeds_train_replicas_of_main_with_their_own_seed(wd):
    p = _snakemake(
        wd,
        "-n",
        "-p",
        "--cores",
        "2",
        "--configfile",
        "presets/smoke.yaml",
        "--config",
        "sae={seeds: [1, 2, 7]}",
        "seed=7",
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    cmds = _commands(out)
    train = {re.search(r"--out results/sae/\S+/([^/]+)/model", c).group(1): c for c in cmds if "sae train" in c}
    # 7 is main's own seed (`seed`), so only 1 and 2 make replicas
    assert {"main", "main-s1", "main-s2"} <= set(train) and "main-s7" not in train
    for name, seed in (("main", 7), ("main-s1", 1), ("main-s2", 2)):
        words = shlex.split(train[name])
        assert words[words.index("--seed") + 1] == str(seed)
        settings = yaml.safe_load(words[words.index("--settings") + 1])
        assert "seed" not in settings  # the flag carries it; settings equal main's
        assert settings == yaml.safe_load(
            shlex.split(train["main"])[shlex.split(train["main"]).index("--settings") + 1]
        )
    (table,) = [c for c in cmds if c.startswith("irlens sae table")]
    assert "--eval main-s1=" in table and "--eval main-s2=" in table


def test_a_string_override_where_a_number_belongs_names_the_key(wd):
    p = _snakemake(wd, "-n", "--configfile", "presets/smoke.yaml", "--config", "ig={shards: two}")
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "config key ig.shards: 'two' is not of type 'integer'" in out
    assert len(out.splitlines()) <= 8, out


@pytest.mark.parametrize(
    "override, expected",
    [
        ("sed=3", "unknown key 'sed' (did you mean seed"),
        ("ig={shardz: 2}", "unknown key 'ig.shardz' (did you mean ig.shards?)"),
        ("models={minilm: {idd: x}}", "unknown key 'models.minilm.idd' (did you mean models.minilm.id?)"),
    ],
)
def test_an_unknown_key_is_a_short_message_with_the_nearest_names(wd, override, expected):
    p = _snakemake(wd, "-n", "--config", override)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert expected in out
    # not Snakemake's dump of the whole schema (about 1,250 lines before)
    assert len(out.splitlines()) <= 8, out


# ------------------------------------------------------------------ every documented override is run
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _documented_commands() -> list[tuple[str, str]]:
    """``snakemake ...`` commands in README and docs that set config (--config / --configfile)."""
    found = []
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            for m in re.finditer(r"(?:^|`)\s*(snakemake [^`#\n]*)", line):
                cmd = m.group(1).strip().rstrip(".;,")
                if "--config" in cmd and "&&" not in cmd:
                    found.append((f"{doc.relative_to(REPO)}", cmd))
    return sorted(set(found))


DOCUMENTED = _documented_commands()


def test_the_docs_show_overrides():
    # the collector works: the README's own examples are among them
    assert any(cmd.startswith("snakemake --cores all --config seed=7") for _, cmd in DOCUMENTED)
    assert any("'ig={" in cmd or "'ablation={" in cmd for _, cmd in DOCUMENTED), DOCUMENTED
    assert len(DOCUMENTED) >= 8


@pytest.mark.parametrize("doc, cmd", DOCUMENTED, ids=[f"{d}:{c[10:60]}" for d, c in DOCUMENTED])
def test_documented_override_dry_runs(wd, doc, cmd):
    args = shlex.split(cmd)[1:]
    (wd / "my.yaml").write_text(yaml.safe_dump({"ig": {"queries": 3}}))
    if "--directory" in args:  # the preset's usage line: a workdir of the user's choosing
        i = args.index("--directory")
        args[i + 1] = str(wd)
    args = [a.replace("<workdir>", str(wd)) for a in args]
    p = _snakemake(wd, "-n", *args)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{doc}: {cmd}\n{out[-3000:]}"


# ---------------------------------------------------------------------- config strings reach the shell
NASTY = "x y; $(touch PWNED) `touch PWNED2` 'q' \"d\""


def _nasty_overlay(tmp: Path) -> dict:
    return {
        "data": {
            "mirrors": [str(tmp / f"mirror {NASTY}")],
            "download_dir": str(tmp / f"dl {NASTY}"),
            "ir_datasets": {"scifact": f"beir/scifact {NASTY}"},
        },
        "models": {"minilm": {"id": f"org/model {NASTY}"}},
        "retrieval": {"device": f"cpu {NASTY}"},
        "cross_encoder": {"id": f"org/ce {NASTY}"},
        "gpl": {"teacher": f"org/teacher {NASTY}", "queries": {"backend": "t5", "generator": f"org/t5 {NASTY}"}},
        "resources": {"model_dirs": [str(tmp / f"models {NASTY}")]},
    }


def test_config_strings_are_quoted_in_every_command(wd, tmp_path):
    (wd / "nasty.yaml").write_text(yaml.safe_dump(_nasty_overlay(tmp_path)))
    p = _snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "nasty.yaml")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    words = [shlex.split(c) for c in _commands(out)]  # what bash passes to irlens, word by word
    # every nasty value reaches some command, as one word: mirror, download dir, ids, devices, model dirs
    for what in (
        "mirror ",
        "dl ",
        "beir/scifact ",
        "org/model ",
        "cpu ",
        "org/ce ",
        "org/teacher ",
        "org/t5 ",
        "models ",
    ):
        assert any(w.endswith(what + NASTY) for ws in words for w in ws), f"{what!r} reaches no command as one word"
    # and nowhere does a piece of one escape its word: each `$(touch` belongs to a word holding the whole value
    for c, ws in zip(_commands(out), words):
        assert sum(w.count("$(touch PWNED)") for w in ws) == c.count("$(touch PWNED)"), c
        assert all(NASTY in w for w in ws if "$(touch" in w), c
    assert not list(wd.glob("PWNED*"))


def test_the_data_rule_reads_a_mirror_whose_path_has_a_space(wd, tmp_path):
    if not SHARED_BEIR.is_dir():
        pytest.fail("../shared/data/beir must be beside the repository")
    mirror = tmp_path / "my mirror"
    shutil.copytree(SHARED_BEIR / "scifact", mirror / "scifact")
    (wd / "space.yaml").write_text(yaml.safe_dump({"data": {"mirrors": [str(mirror)]}}))
    p = _snakemake(
        wd, "results/data/scifact/manifest.json", "--cores", "1", "--configfile", "presets/smoke.yaml", "space.yaml"
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    manifest = yaml.safe_load((wd / "results/data/scifact/manifest.json").read_text())
    assert str(mirror) in str(manifest)


# ------------------------------------------------------------------------ resources.model_sha256 pins
def test_model_pins_reach_every_command_that_takes_local_dirs(wd):
    from irlens.cli import build_parser

    pins = {
        "sentence-transformers/all-MiniLM-L6-v2": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    }
    pins[f"org/{NASTY}"] = "ab" * 32
    (wd / "pins.yaml").write_text(
        yaml.safe_dump({"resources": {"model_dirs": ["resources/models"], "model_sha256": pins}})
    )
    p = _snakemake(wd, "-n", "-p", "--cores", "2", "--configfile", "presets/smoke.yaml", "pins.yaml")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    with_dirs = [c for c in _commands(out) if "--local-dir" in c]
    assert len({c.split(" --")[0] for c in with_dirs}) >= 8  # encode, rerank, gpl, ig, nig, ablation, ...
    parser = build_parser()
    for c in with_dirs:
        words = shlex.split(c)
        words = words[: words.index(">")] if ">" in words else words
        a = parser.parse_args(words[1:])  # the command accepts --pin (argparse would exit otherwise)
        assert sorted(a.pin) == sorted(f"{k}={v}" for k, v in pins.items()), c
