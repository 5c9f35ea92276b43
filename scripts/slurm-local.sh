#!/usr/bin/env bash
# A throw-away single-node SLURM on loopback, for tests and for trying the SLURM profile by hand.
#
#   scripts/slurm-local.sh start  [DIR]   write configs under DIR, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh env    [DIR]   print the exports that point sbatch/squeue/snakemake at it
#   scripts/slurm-local.sh status [DIR]   sinfo of the running cluster
#   scripts/slurm-local.sh stop   [DIR]   cancel its jobs, stop the daemons named by DIR/run/*.pid
#
# DIR defaults to $SLURM_LOCAL_DIR. Everything (keys, configs, state, logs, PID files, the fake GPU
# devices) lives under DIR; nothing under /etc or /run is touched and only the daemons started here
# are stopped (by their PID files). Needs root and Debian's slurm-wlm, slurm-client and munge
# (`apt-get install -y --no-install-recommends slurm-wlm slurm-client munge`); no systemd, no cgroups,
# no accounting database (so no sacct: use `slurm-status-command: squeue`).
#
# Environment (all optional):
#   SLURM_LOCAL_PARTITION   partition name [debug]
#   SLURM_LOCAL_CTLD_PORT   slurmctld port [6817];  SLURM_LOCAL_SLURMD_PORT  slurmd port [6818]
#   SLURM_LOCAL_GPUS        fake GPUs (GRES gpu) on the node [2]
#   SLURM_LOCAL_MEM_MB      memory the node advertises [max(real memory, 16384)]; the rules ask for
#                           up to 8 GB each, which a small CI machine should still schedule
#   SLURM_LOCAL_MIN_JOB_AGE seconds slurmctld keeps finished jobs visible to squeue/scontrol [600]
# Finished jobs are also written, one line each, to DIR/log/jobcomp.txt (jobcomp/filetxt).
#
# Clients find this cluster through SLURM_CONF=DIR/slurm.conf, or through the wrappers in DIR/bin
# (srun, sbatch, squeue, ...), which set it themselves. The wrappers are needed: inside a job,
# snakemake-executor-plugin-slurm-jobstep runs the rule with `srun` after removing every SLURM_*
# variable from the environment (SLURM_CONF included), and this cluster's slurm.conf is not at the
# default path. Put DIR/bin first on PATH (`eval "$(scripts/slurm-local.sh env DIR)"`).
set -euo pipefail

die() { echo "slurm-local.sh: $*" >&2; exit 1; }
export PATH="$PATH:/usr/sbin:/sbin"   # the daemons live in sbin, which a non-login PATH may lack

cmd="${1:-}"
dir="${2:-${SLURM_LOCAL_DIR:-}}"
case "$cmd" in start | stop | env | status) ;; *) die "usage: $0 start|stop|env|status DIR (or set SLURM_LOCAL_DIR)" ;; esac
[[ -n "$dir" ]] || die "no scratch directory: pass it as the second argument or set SLURM_LOCAL_DIR"
if [[ "$cmd" == start ]]; then mkdir -p "$dir"; elif [[ ! -d "$dir" ]]; then
    [[ "$cmd" == stop ]] && exit 0 # nothing was started there
    die "$dir does not exist; start a cluster there first: $0 start $dir"
fi
dir="$(cd "$dir" && pwd)"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

# Stop the daemon whose PID file is $1 if it is still the program $2 (a recycled PID is left alone).
stop_pidfile() {
    local pidfile="$1" prog="$2" pid i
    [[ -s "$pidfile" ]] || return 0
    pid="$(tr -dc 0-9 <"$pidfile")"
    rm -f "$pidfile"
    [[ -n "$pid" && -e "/proc/$pid" ]] || return 0
    # /proc/PID/comm, not exe: Debian's slurmctld is a link to slurmctld-wlm
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$prog" ]] || { echo "slurm-local.sh: PID $pid from $pidfile is not $prog, left alone" >&2; return 0; }
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do [[ -e "/proc/$pid" ]] || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

do_stop() {
    if [[ -s "$dir/run/slurmctld.pid" && -f "$conf" ]]; then
        timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
        # wait (up to 5 s) until the cancelled jobs have left the node
        for _ in $(seq 50); do [[ -z "$(timeout 5 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null)" ]] && break; sleep 0.1; done
    fi
    stop_pidfile "$dir/run/slurmd.pid" slurmd
    stop_pidfile "$dir/run/slurmctld.pid" slurmctld
    stop_pidfile "$dir/run/munged.pid" munged
}

tail_logs() {
    local f
    for f in "$dir"/log/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [[ -f "$f" ]] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
    done
    return 0
}

do_start() {
    [[ "$(id -u)" == 0 ]] || die "start needs root (slurmd launches the jobs); run it as root or use a real cluster"
    local b
    for b in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol scancel srun; do
        command -v "$b" >/dev/null || die "'$b' not found; install it: apt-get install -y --no-install-recommends slurm-wlm slurm-client munge"
    done
    [[ -s "$dir/run/slurmctld.pid" ]] && die "$dir already holds a running cluster (run/slurmctld.pid); stop it first: $0 stop $dir"
    mkdir -p "$dir"/{munge,run,log,state,spool/slurmd,dev}
    chmod 700 "$dir/munge"

    local host part ctld_port d_port gpus mem real cpus sockets cores threads min_age
    host="$(hostname -s)"
    part="${SLURM_LOCAL_PARTITION:-debug}"
    ctld_port="${SLURM_LOCAL_CTLD_PORT:-6817}"
    d_port="${SLURM_LOCAL_SLURMD_PORT:-6818}"
    gpus="${SLURM_LOCAL_GPUS:-2}"
    min_age="${SLURM_LOCAL_MIN_JOB_AGE:-600}"
    # The node as slurmd sees it: "NodeName=h CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ..."
    local hw
    hw="$(slurmd -C | head -n 1)"
    field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
    cpus="$(field CPUs)"; sockets="$(field SocketsPerBoard)"; cores="$(field CoresPerSocket)"
    threads="$(field ThreadsPerCore)"; real="$(field RealMemory)"
    [[ -n "$cpus" && -n "$real" ]] || die "could not read the node's CPUs/memory from 'slurmd -C': $hw"
    mem="${SLURM_LOCAL_MEM_MB:-$((real > 16384 ? real : 16384))}"

    # munge: a fresh key for this cluster only, socket and PID file under DIR
    mungekey --create --force --keyfile="$dir/munge/munge.key" >/dev/null
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
        || { tail_logs; die "munged did not start (log: $dir/log/munged.log)"; }

    # Fake GPUs: GRES needs device files; character devices (like /dev/null) keep slurmd quiet,
    # plain files work too (with a warning in slurmd.log) where mknod is not permitted.
    local i files=""
    if ((gpus > 0)); then
        for ((i = 0; i < gpus; i++)); do
            rm -f "$dir/dev/nvidia$i"
            mknod "$dir/dev/nvidia$i" c 1 3 2>/dev/null || : >"$dir/dev/nvidia$i"
        done
        files="$dir/dev/nvidia[0-$((gpus - 1))]"
    fi

    cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh: a single-node cluster on loopback, no accounting, no cgroups.
ClusterName=irlens-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=$min_age
InactiveLimit=0
KillWait=5
GresTypes=gpu
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Sockets=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=$mem${files:+ Gres=gpu:$gpus} State=UNKNOWN
PartitionName=$part Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    {
        echo "AutoDetect=off"
        [[ -n "$files" ]] && echo "NodeName=$host Name=gpu File=$files"
    } >"$dir/gres.conf"

    # Client wrappers that carry SLURM_CONF (see the header), resolved before DIR/bin is on PATH
    local real_bin
    mkdir -p "$dir/bin"
    for b in srun sbatch salloc squeue scontrol scancel sinfo; do
        real_bin="$(PATH="$(tr ':' '\n' <<<"$PATH" | grep -vxF "$dir/bin" | paste -sd:)" command -v "$b" || true)"
        [[ -n "$real_bin" ]] || continue
        printf '#!/bin/sh\n# written by scripts/slurm-local.sh: %s for the cluster in %s\nSLURM_CONF=%q exec %q "$@"\n' \
            "$b" "$dir" "$conf" "$real_bin" >"$dir/bin/$b"
        chmod +x "$dir/bin/$b"
    done

    slurmctld -f "$conf" || { tail_logs; die "slurmctld did not start (log: $dir/log/slurmctld.log)"; }
    slurmd -f "$conf" -N "$host" || { tail_logs; die "slurmd did not start (log: $dir/log/slurmd.log)"; }

    local state=""
    for i in $(seq 150); do
        state="$(timeout 5 sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)"
        [[ "$state" == idle ]] && break
        sleep 0.2
    done
    if [[ "$state" != idle ]]; then
        tail_logs
        do_stop
        die "the node did not become idle within 30 s (state '${state:-unknown}'); logs above, under $dir/log"
    fi
    echo "slurm-local: node $host idle in partition $part ($cpus CPUs, $mem MB, $gpus fake GPUs); clients: eval \"\$($0 env $dir)\""
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
env) printf 'export SLURM_CONF=%q PATH=%q:"$PATH"\n' "$conf" "$dir/bin" ;;
status) sinfo -N -o "%N %P %t %c %m %G" ;;
esac
