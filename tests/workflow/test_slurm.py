"""The smoke preset through the SLURM profile on a real single-node SLURM (scripts/slurm-local.sh).

Every job must go through sbatch and finish COMPLETED in slurmctld's view, the GPU rules must have
been granted a (fake) GPU, and the tables and retrieval outputs must equal the local run's
(conftest.smoke_local). Needs root and Debian's slurm-wlm, slurm-client and munge: skipped where they
are missing, except under CI, where that is a failure (.ci/run installs them).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, job_stats, make_smoke_workdir, smoke_snakemake

pytestmark = pytest.mark.workflow
SCRIPT = REPO / "scripts" / "slurm-local.sh"
PARTITION = "irlens-test"
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
# rules the profile gives a GPU (set-resources ... gpu); the smoke DAG must run at least the core ones
GPU_RULES = {r for r, res in yaml.safe_load(PROFILE.read_text())["set-resources"].items() if "gpu" in res}
CORE_GPU_RULES = {"encode", "cross_encoder_train", "gpl_train", "ig_attribute", "nig_attribute", "ablation_run"}
TIMEOUT_S = 45 * 60


def _missing_slurm() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [
        b
        for b in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "srun")
        if not shutil.which(b, path=path)
    ]
    if missing:
        return (
            f"{', '.join(missing)} not found: apt-get install -y --no-install-recommends slurm-wlm slurm-client munge"
        )
    if os.geteuid() != 0:
        return "scripts/slurm-local.sh needs root (slurmd launches the jobs)"
    return None


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node cluster; yields the environment that points clients at it."""
    why = _missing_slurm()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM test: {why}")
        pytest.skip(why)
    scratch = Path(tempfile.mkdtemp(prefix="irlens-slurm-"))  # short path: munge's socket lives here
    ctld, slurmd = _free_ports(2)
    env = {
        **os.environ,
        "SLURM_LOCAL_PARTITION": PARTITION,
        "SLURM_LOCAL_CTLD_PORT": str(ctld),
        "SLURM_LOCAL_SLURMD_PORT": str(slurmd),
        "SLURM_LOCAL_MIN_JOB_AGE": "7200",
        "SLURM_CONF": str(scratch / "slurm.conf"),
        "PATH": f"{scratch / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }  # client wrappers: see the script's header
    try:
        p = subprocess.run(
            ["bash", str(SCRIPT), "start", str(scratch)], env=env, capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 0, f"scripts/slurm-local.sh start failed:\n{p.stdout}\n{p.stderr}"
        yield env
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(scratch)], env=env, timeout=120)
        leftovers = [f.name for f in (scratch / "run").glob("*.pid")] if (scratch / "run").is_dir() else []
        shutil.rmtree(scratch, ignore_errors=True)
        assert not leftovers, f"slurm-local.sh stop left PID files: {leftovers}"


def _resources_per_rule(log: str) -> dict[str, set[str]]:
    """rule -> the distinct 'resources:' lines of its jobs in a (dry-run) log."""
    out, rule = {}, None
    for line in log.splitlines():
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
        elif rule and line.startswith("    resources: "):
            out.setdefault(rule, set()).add(line.split(": ", 1)[1])
    return out


def _commands_per_rule(log: str) -> dict[str, list[str]]:
    """rule -> the shell commands of its jobs in a dry-run log printed with --printshellcmds."""
    out, rule = {}, None
    for line in log.splitlines():
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
        elif rule and line.startswith("Shell command: "):
            out.setdefault(rule, []).append(line.split(": ", 1)[1])
    return out


@pytest.mark.parametrize(
    "env_gpu",
    [{}, {"IRLENS_SLURM_GPUS": "0"}, {"IRLENS_SLURM_GPUS": "2", "IRLENS_SLURM_GPU_MODEL": "a100"},
     {"IRLENS_SLURM_GRES": "gpu:a100:1", "IRLENS_SLURM_GPU_MODEL": "a100"}],
    ids=["default", "none", "model", "gres"],
)  # fmt: skip
def test_profile_resources_from_environment(tmp_path, env_gpu):
    """What the profile asks SLURM for, as Snakemake evaluates it (dry run, no cluster needed): the GPU rules get
    gpu (+ gpu_model) or gres, cpus_per_gpu = their threads and tasks_per_gpu 0; no other rule gets any of them."""
    wd = make_smoke_workdir(tmp_path)
    env = {"SLURM_PARTITION": "part-x", "SLURM_ACCOUNT": "acct-y", **env_gpu}
    p = smoke_snakemake(wd, "--dry-run", "--profile", "workflow/profiles/slurm", cores=False, env=env)
    res = _resources_per_rule(p.stdout + p.stderr)
    assert CORE_GPU_RULES <= set(res), set(res)
    gres = env_gpu.get("IRLENS_SLURM_GRES", "")
    n = 0 if gres else int(env_gpu.get("IRLENS_SLURM_GPUS", "1"))
    model = env_gpu.get("IRLENS_SLURM_GPU_MODEL", "") if n else ""
    for rule, lines in res.items():
        for line in lines:
            assert "slurm_partition=part-x" in line and "slurm_account=acct-y" in line, (rule, line)
            assert re.search(r"\bmem_mb=\d+", line) and re.search(r"\bruntime=\d+", line), (rule, line)
            want = n if rule in GPU_RULES else 0
            got = int((re.search(r"\bgpu=(\d+)", line) or [None, 0])[1])
            assert got == want, (rule, line)
            fields = dict(re.findall(r"\b(gpu_model|gres|cpus_per_gpu|tasks_per_gpu)=([^,]*)", line))
            if rule in GPU_RULES:
                assert fields.get("gpu_model") == model and fields.get("gres") == gres, (rule, line)
                assert fields.get("tasks_per_gpu") == "0" and int(fields.get("cpus_per_gpu", 0)) >= 1, (rule, line)
            else:
                assert not fields, (rule, line)


def test_every_rule_that_passes_a_device_gets_a_gpu(tmp_path):
    """With device cuda a job on a node without a GPU stops ('CUDA is not available'): every rule whose command
    passes --device must be a GPU rule of the profile, and locally (device cuda) declare gpu=1 for --resources."""
    wd = make_smoke_workdir(tmp_path)
    p = smoke_snakemake(wd, "--dry-run", "--profile", "workflow/profiles/slurm", cores=False)
    cmds = _commands_per_rule(p.stdout + p.stderr)
    with_device = {r for r, cs in cmds.items() if any(" --device " in c for c in cs)}
    assert CORE_GPU_RULES <= with_device | {"ablation_run"}, with_device
    assert with_device <= GPU_RULES, sorted(with_device - GPU_RULES)
    p = smoke_snakemake(wd, "--dry-run", "--printshellcmds", "--config", "retrieval={device: cuda}", cores=True)
    res = _resources_per_rule(p.stdout + p.stderr)
    cmds = _commands_per_rule(p.stdout + p.stderr)
    for rule in with_device:
        assert all(" --device cuda " in c for c in cmds[rule]), rule
        assert all(re.search(r"\bgpu=1\b", line) for line in res[rule]), (rule, res[rule])


class _Resources(dict):
    """What the plugin reads from job.resources: .get() and attribute access."""

    __getattr__ = dict.__getitem__


def _profile_job(rule: str, threads: int, env: dict[str, str], monkeypatch):
    """A job of ``rule`` with the profile's set-resources evaluated as Snakemake does (Python expressions with
    ``threads`` in scope) under ``env``."""
    from types import SimpleNamespace

    for k in ("IRLENS_SLURM_GPUS", "IRLENS_SLURM_GPU_MODEL", "IRLENS_SLURM_GRES"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    given = (yaml.safe_load(PROFILE.read_text())["set-resources"].get(rule)) or {}
    res = _Resources(mem_mb=4000, runtime=60)
    for k, v in given.items():
        res[k] = eval(v, {"threads": threads}) if isinstance(v, str) else v  # noqa: S307 - our own profile
    return SimpleNamespace(resources=res, threads=threads, name=rule, is_group=lambda: False)


@pytest.mark.parametrize(
    "rule, env, want, unwanted",
    [
        ("ig_attribute", {}, ["--gpus=1", "--cpus-per-gpu=4"], ["--ntasks-per-gpu", "--gres", "--cpus-per-task"]),
        ("sae_train", {"IRLENS_SLURM_GPUS": "2", "IRLENS_SLURM_GPU_MODEL": "h100"},
         ["--gpus=h100:2", "--cpus-per-gpu=4"], ["--ntasks-per-gpu", "--gres"]),
        ("nig_attribute", {"IRLENS_SLURM_GRES": "gpu:a100:1"},
         ["--gres=gpu:a100:1", "--cpus-per-gpu=4"], ["--gpus", "--ntasks-per-gpu"]),
        ("encode", {"IRLENS_SLURM_GPUS": "0"},
         ["--cpus-per-task=4", "--ntasks=1"], ["--gpus", "--gres", "--cpus-per-gpu"]),
        ("ig_merge", {},
         ["--cpus-per-task=4", "--ntasks=1"], ["--gpus", "--gres", "--cpus-per-gpu", "--ntasks-per-gpu"]),
    ],
)  # fmt: skip
def test_sbatch_call_of_the_profile(monkeypatch, rule, env, want, unwanted):
    """The sbatch flags snakemake-executor-plugin-slurm builds from the profile's resources (its own builders:
    get_submit_command and set_gres_string, as its executor calls them)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = _profile_job(rule, 4, env, monkeypatch)
    params = {
        "run_uuid": "u",
        "slurm_logfile": "/tmp/x.log",
        "comment_str": rule,
        "account": "-A acct",
        "partition": "-p part",
        "workdir": "/tmp",
    }
    call = get_submit_command(job, params) + set_gres_string(job)
    for flag in want:
        assert re.search(rf"(^|\s){re.escape(flag)}(\s|$)", call), (flag, call)
    for flag in unwanted:
        assert flag not in call, (flag, call)


def _scontrol_jobs(env) -> dict[str, dict[str, str]]:
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True, check=True
    ).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


TIMING = re.compile(r"(^|_)s$|^s/|seconds|time", re.I)  # wall-time columns (train_s, s/pair) differ run to run


def _rows(path: Path) -> list[list[str]]:
    """A table's rows of cells: CSV/TSV, or a Markdown table (``| a | b |`` lines, separator row dropped)."""
    if path.suffix == ".md":  # cells may hold "|" (e.g. |F(x) - F(x')|): cut at the separator row's bars
        lines = [ln.rstrip() for ln in path.read_text().splitlines() if ln.startswith("|")]
        sep = next((ln for ln in lines if re.fullmatch(r"\|(:?-+:?\|)+", ln)), None)
        if sep is None:
            return [lines]
        bars = [i for i, ch in enumerate(sep) if ch == "|"]
        return [[ln[a + 1 : b].strip() for a, b in zip(bars, bars[1:])] for ln in lines if ln != sep]
    with open(path, newline="") as fh:
        return list(csv.reader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))


def _without_timing(rows: list[list[str]]) -> list[list[str]]:
    keep = [i for i, name in enumerate(rows[0]) if not TIMING.search(name)] if rows else []
    return [[row[i] for i in keep if i < len(row)] for row in rows]


def _flat_json(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flat_json(v, f"{prefix}{k}.")
    else:
        yield prefix, str(obj)


def _compare_outputs(here: Path, there: Path) -> tuple[list[str], list[str], list[str]]:
    """Tables (every reports/tables file) and retrieval metrics of two workdirs, compared exactly.

    Returns (byte-identical files, files identical once wall-time columns/keys are left out, differences).
    Anything else that differs — one digit of one cell — is a difference."""

    def listing(root: Path) -> list[str]:
        files = [p for p in (root / "reports/tables").rglob("*") if p.is_file()]
        files += list((root / "results/retrieval").rglob("metrics.json"))
        return sorted(str(p.relative_to(root)) for p in files)

    files, other = listing(here), listing(there)
    diffs = [f"only in one run: {sorted(set(files) ^ set(other))}"] if files != other else []
    identical, timing_only = [], []
    for f in files:
        a, b = here / f, there / f
        if not b.is_file():
            continue
        if a.read_bytes() == b.read_bytes():
            identical.append(f)
            continue
        if a.suffix == ".json":
            ja = [(k, v) for k, v in _flat_json(json.loads(a.read_text())) if not TIMING.search(k)]
            jb = [(k, v) for k, v in _flat_json(json.loads(b.read_text())) if not TIMING.search(k)]
            same, first = ja == jb, next(((x, y) for x, y in zip(ja, jb) if x != y), None)
        elif a.suffix in (".csv", ".tsv", ".md"):
            ta, tb = _without_timing(_rows(a)), _without_timing(_rows(b))
            same = ta == tb
            first = next(((x, y) for ra, rb in zip(ta, tb) for x, y in zip(ra, rb) if x != y), "shape differs")
        else:
            same, first = False, "binary or unknown table format"
        if same:
            timing_only.append(f)
        else:
            diffs.append(f"{f}: first difference {first}")
    return identical, timing_only, diffs


def test_smoke_through_slurm_profile_equals_local(smoke_local, slurm_cluster, tmp_path_factory):
    wd = make_smoke_workdir(tmp_path_factory.mktemp("wf-slurm"))
    env = {**slurm_cluster, "HF_HUB_OFFLINE": "1", "SLURM_PARTITION": PARTITION}
    env.pop("SLURM_ACCOUNT", None)  # no accounting on this cluster
    env.pop("IRLENS_SLURM_GPUS", None)  # the profile's default: one GPU for the GPU rules
    # --max-threads 2: the node has 2 CPUs (a config may ask for more threads, which would never schedule) and
    # the local reference ran with --cores 2; --retries 0: a failing job fails the test.
    cmd = SNAKEMAKE + [
        "--profile",
        "workflow/profiles/slurm",
        "--configfile",
        "presets/smoke.yaml",
        "ci.yaml",
        "--max-threads",
        "2",
        "--retries",
        "0",
        "--slurm-init-seconds-before-status-checks",
        "3",
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        log, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # a status-polling hang ignores SIGTERM
        log, _ = proc.communicate()
        pytest.fail(f"snakemake through SLURM did not finish in {TIMEOUT_S} s:\n{log[-4000:]}")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, f"{' '.join(cmd)} failed after {wall:.0f} s:\n{log[-6000:]}"
    print(f"smoke preset through SLURM: {wall:.0f} s")

    # every job but the target rule went through sbatch, exactly once
    stats = job_stats(log)
    local = set(re.findall(r"^localrule (\w+):", log, re.M))
    assert local <= {"all"}, f"jobs ran outside SLURM: {local - {'all'}}"
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    assert len(submitted) == sum(stats.values()) - stats["all"], (stats, submitted)
    assert len(set(submitted.values())) == len(submitted)

    # slurmctld saw each of them COMPLETED, in the test's partition, with a GPU for the GPU rules
    jobs = _scontrol_jobs(slurm_cluster)
    per_rule = Counter()
    for sm_id, slurm_id in submitted.items():
        job = jobs.get(slurm_id)
        assert job, f"SLURM job {slurm_id} (snakemake job {sm_id}) unknown to slurmctld"
        assert job["JobState"] == "COMPLETED" and job["Partition"] == PARTITION, job
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", job["Comment"]).group(1)
        per_rule[rule] += 1
        gpus = "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")
        assert gpus == (rule in GPU_RULES), f"{rule}: GPU request {gpus} ({job.get('TresPerJob')})"
    assert per_rule == stats - Counter({"all": stats["all"]})
    assert CORE_GPU_RULES <= set(per_rule)

    # Regenerated from scratch, in other processes, through another executor: the same tables and
    # retrieval metrics as the local run, exactly (same seed, CPU; training included), except for
    # wall-time columns. This is the from-scratch determinism check of the whole DAG.
    identical, timing_only, diffs = _compare_outputs(wd, smoke_local)
    assert not diffs, "SLURM and local runs differ:\n" + "\n".join(diffs)
    assert len(identical) + len(timing_only) > 20
    upstream = [
        f for f in identical if re.fullmatch(r"results/retrieval/\w+/(bm25|minilm|minilm-gpl-scifact)/metrics.json", f)
    ]
    assert len(upstream) == 5, upstream  # bm25 and minilm on both datasets, the GPL-adapted model on SciFact
    print(
        f"{len(identical)} files byte-identical, {len(timing_only)} identical except wall-time columns: {timing_only}"
    )
