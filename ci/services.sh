#!/usr/bin/env bash
# Real services for boostjet's tests, reachable on 127.0.0.1 only (docs/services.md):
#   - a one-node SLURM cluster: munged (as user munge), slurmctld, slurmd, one default partition;
#   - an XRootD server exporting a copy of the test files over root:// and XrdHttp http://.
# Every config, socket, log and pid file lives under $BOOSTJET_SERVICES_DIR
# (default /tmp/boostjet-services); $BOOSTJET_SERVICES_DIR/services.env tells the tests where
# things are. Debian's packages are installed with apt-get when missing. Needs root.
#
#   bash ci/services.sh start    start whatever is not running (idempotent), wait until it answers
#   bash ci/services.sh stop     cancel SLURM jobs, stop every daemon by its pid file, check
#   bash ci/services.sh status   what runs; exit 0 only when everything does
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${BOOSTJET_SERVICES_DIR:-/tmp/boostjet-services}
FILES_FROM=${BOOSTJET_SERVICES_FILES:-$(dirname "$HERE")/samples}
TIMEOUT=${BOOSTJET_SERVICES_TIMEOUT:-60}
PYTHON=${PYTHON:-python3}
PARTITION=boostjet
ENV_FILE=$STATE/services.env
SLURM_CONF=$STATE/slurm/slurm.conf
DAEMONS=(xrootd slurmd slurmctld munged) # in stopping order
export PATH=$PATH:/usr/sbin:/sbin SLURM_CONF

say() { echo "services: $*"; }
die() {
    echo "services: error: $*" >&2
    exit 1
}
net() { "$PYTHON" "$HERE/services_net.py" "$@"; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
seconds_since() { # milliseconds since $1, as seconds with one decimal
    local tenths=$((($(now_ms) - $1) / 100))
    echo "$((tenths / 10)).$((tenths % 10))"
}

# timed NAME FUNCTION: run FUNCTION (a start_* step) and say how long it took.
timed() {
    local began
    began=$(now_ms)
    "$2"
    say "$1 answers after $(seconds_since "$began") s"
}

pid_file() {
    case $1 in
    munged) echo "$STATE/munge/munged.pid" ;;
    slurmctld | slurmd) echo "$STATE/slurm/$1.pid" ;;
    xrootd) echo "$STATE/xrootd/xrootd.pid" ;;
    esac
}

# The daemon's pid when its pid file names a live process of that name (never another process).
daemon_pid() {
    local file pid
    file=$(pid_file "$1")
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] || return 1
    echo "$pid"
}

# wait_for WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds, at most $TIMEOUT s.
wait_for() {
    local what=$1 deadline=$((SECONDS + TIMEOUT))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what did not answer within $TIMEOUT s (logs in $STATE)"
        sleep 0.2
    done
}

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null || missing+=(slurm-wlm)
    command -v xrootd >/dev/null || missing+=(xrootd-server)
    command -v xrdfs >/dev/null || missing+=(xrootd-client)
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || die "${missing[*]} missing and no apt-get to install them"
    say "installing ${missing[*]} (log: $STATE/apt.log)"
    {
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    } >"$STATE/apt.log" 2>&1 || die "apt-get failed, see $STATE/apt.log"
}

start_munge() {
    local dir=$STATE/munge
    mkdir -p "$dir"
    chown munge:munge "$dir"
    chmod 755 "$dir" # munged wants its socket's directory open to all, its key 0600
    [[ -s $dir/munge.key ]] || mungekey --create --keyfile="$dir/munge.key"
    chown munge:munge "$dir/munge.key"
    chmod 600 "$dir/munge.key"
    runuser -u munge -- munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --log-file="$dir/munged.log" --pid-file="$dir/munged.pid" \
        --seed-file="$dir/munged.seed" --origin=127.0.0.1
    wait_for munged bash -c "munge -n -S '$dir/munge.socket' | unmunge -S '$dir/munge.socket'"
}

start_slurm() {
    local dir=$STATE/slurm node name ports
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    node=$(slurmd -C | head -n 1) # NodeName=... CPUs=... RealMemory=... as slurmd sees this host
    name=${node%% *}
    name=${name#NodeName=}
    mapfile -t ports < <(net free-ports 2)
    cat >"$SLURM_CONF" <<EOF
# Written by ci/services.sh: one node, this host, reachable on 127.0.0.1 only.
ClusterName=boostjet
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
# bind to the node's address (127.0.0.1) instead of every interface
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
MpiDefault=none
# no systemd, no cgroups
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
    slurmctld -i -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    wait_for "the SLURM node $name" bash -c "sinfo -h -n '$name' -o %t | grep -qx idle"
}

start_xrootd() {
    local dir=$STATE/xrootd files=$STATE/files ports first
    compgen -G "$FILES_FROM/*.root" >/dev/null || die "no .root files in $FILES_FROM to export"
    mkdir -p "$dir/admin" "$dir/run" "$files"
    cp -f "$FILES_FROM"/*.root "$files/"
    chown -R xrootd:xrootd "$dir" "$files" # xrootd drops to user xrootd and reads these
    chmod 755 "$files"
    chmod 644 "$files"/*.root
    first=$(find "$files" -name '*.root' | sort | head -n 1)
    mapfile -t ports < <(net free-ports 2)
    cat >"$dir/xrootd.cfg" <<EOF
# Written by ci/services.sh. xrootd cannot bind one address itself: ci/services_net.py activate
# hands it sockets bound to 127.0.0.1:PORT for these two ports (systemd socket activation).
all.export $files r/o
all.adminpath $dir/admin
all.pidpath $dir/run
xrd.port ${ports[0]}
xrd.protocol XrdHttp:${ports[1]} libXrdHttp.so
EOF
    # a simple command (not the function net), so that $! is the pid that becomes xrootd
    "$PYTHON" "$HERE/services_net.py" activate 127.0.0.1 "${ports[0]},${ports[1]}" -- \
        xrootd -R xrootd -c "$dir/xrootd.cfg" -l "$dir/xrootd.log" \
        </dev/null >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/xrootd.pid"
    wait_for "xrootd root://" env XRD_CONNECTIONRETRY=1 XRD_REQUESTTIMEOUT=5 \
        timeout 10 xrdfs "root://127.0.0.1:${ports[0]}" stat "$first"
    wait_for "xrootd http://" net http-range "http://127.0.0.1:${ports[1]}$first"
    XROOTD_PORT=${ports[0]} HTTP_PORT=${ports[1]}
}

write_env() {
    cat >"$ENV_FILE.tmp" <<EOF
BOOSTJET_SERVICES_DIR=$STATE
BOOSTJET_XROOTD_URL=root://127.0.0.1:$XROOTD_PORT/
BOOSTJET_HTTP_URL=http://127.0.0.1:$HTTP_PORT/
BOOSTJET_XROOTD_FILES=$STATE/files
BOOSTJET_SLURM_PARTITION=$PARTITION
SLURM_CONF=$SLURM_CONF
EOF
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

all_running() {
    local daemon
    for daemon in "${DAEMONS[@]}"; do daemon_pid "$daemon" >/dev/null || return 1; done
    [[ -s $ENV_FILE ]]
}

start() {
    [[ $EUID -eq 0 ]] || die "must run as root (slurmd and munged need it)"
    if all_running; then
        say "already running; state in $STATE"
        cat "$ENV_FILE"
        return 0
    fi
    stop >/dev/null # whatever half of an earlier start survived
    mkdir -p "$STATE"
    chmod 755 "$STATE" # the munge and xrootd users must reach their files
    say "state in $STATE"
    install_packages
    local began pids=() daemon pid
    began=$(now_ms)
    timed munged start_munge
    timed "SLURM (node idle)" start_slurm
    timed "xrootd (root:// and http://)" start_xrootd
    for daemon in "${DAEMONS[@]}"; do
        pid=$(daemon_pid "$daemon") || die "$daemon died (logs in $STATE)"
        pids+=("$pid")
    done
    say "sockets the daemons listen on (pid, protocol, address):"
    net listening "${pids[@]}" || die "a daemon listens beyond 127.0.0.1 (see above)"
    write_env
    say "started in $(seconds_since "$began") s (after any package installation); $ENV_FILE:"
    cat "$ENV_FILE"
}

stop_daemon() {
    local pid deadline began
    pid=$(daemon_pid "$1") || {
        rm -f "$(pid_file "$1")"
        return 0
    }
    began=$(now_ms)
    kill -TERM "$pid"
    deadline=$((SECONDS + 15))
    while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.2; done
    if [[ -e /proc/$pid ]]; then
        say "$1 ($pid) ignored SIGTERM; killing it"
        kill -KILL "$pid"
        sleep 0.5
    fi
    [[ ! -e /proc/$pid ]] || die "$1 ($pid) is still running"
    rm -f "$(pid_file "$1")"
    say "stopped $1 ($pid) in $(seconds_since "$began") s"
}

stop() {
    local jobs daemon deadline
    rm -f "$ENV_FILE"
    if daemon_pid slurmctld >/dev/null; then # no job step may outlive slurmd
        mapfile -t jobs < <(squeue -h -o %i)
        if ((${#jobs[@]})); then
            say "cancelling SLURM jobs ${jobs[*]}"
            scancel "${jobs[@]}"
            deadline=$((SECONDS + 30))
            while [[ -n $(squeue -h -o %i) ]] && ((SECONDS < deadline)); do sleep 0.5; done
        fi
    fi
    for daemon in "${DAEMONS[@]}"; do stop_daemon "$daemon"; done
}

status() {
    local daemon pid code=0
    for daemon in "${DAEMONS[@]}"; do
        if pid=$(daemon_pid "$daemon"); then say "$daemon running ($pid)"; else
            say "$daemon stopped"
            code=1
        fi
    done
    if [[ -s $ENV_FILE ]]; then cat "$ENV_FILE"; else code=1; fi
    return $code
}

case ${1:-} in
start | stop | status) "$1" ;;
*) die "usage: bash ci/services.sh start|stop|status" ;;
esac
