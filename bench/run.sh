#!/usr/bin/env bash
#  StreamQ-Proxy benchmarks.
#  Usage: bench/run.sh full | quick | scale | core | slow | stall | busy
#
#  full   the matrix (7 contenders, the proxy's two engines among them, x
#         NULL/CURVE x 4 sizes x 1/100 pairs, 3 rounds each), then the scale
#         runs and the stalled reader on each engine, and the core benchmark
#  quick  1 round each, 3 sizes, shorter intervals, a 1 000-pair scale run
#  scale  10 000 idle pairs and the pairing rate, on each engine
#  core   the I/O-free core alone
#  slow   echo pairs beside a peer that never reads, under each slow-peer
#         policy (bench/results/slow.md)
#  stall  a worker that reads nothing for 3 s while its client sends 32 MiB
#         (a neighbouring pair beside it), three times on each engine
#  busy   the splice engine with its loop's yield on and off, beside one and
#         then two processes that compute without sleeping, 5 rounds each
#         (bench/results/busy.md)
#
#  Everything listens on 127.0.0.1 only. Every process started here is
#  stopped on exit. Results go to bench/results/ (see bench/README.md).
#  Environment: BUILD (default build), SQ_BENCH_PORT (first port, 25500),
#  SQ_BENCH_CONTENDERS (a subset of the contenders, to try the script),
#  SQ_BENCH_ROUNDS (rounds of the matrix, instead of the mode's).
set -u

MODE=${1:-quick}
BUILD=${BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
RESULTS=$HERE/results
BIN=$BUILD/bench/sq_bench
CORE_BIN=$BUILD/bench/sq_bench_core
PROXY=$BUILD/streamq-proxy
CTL=$BUILD/streamq-ctl
PORT_BASE=${SQ_BENCH_PORT:-25500}
CONTENDERS=${SQ_BENCH_CONTENDERS:-direct streamq splice broker haproxy haproxy-splice socat}
#  The proxy's engines, for the scale runs and the stalled reader
ENGINES="stream splice"

case "$MODE" in
    full)  RUNS=3; SIZES="64 1024 65536 1048576"; PAIRS="1 100"
           LAT_MS=1000; TPUT_MS=1500
           SCALE_PAIRS=10000; IDLE_MS=10000; CHURN_MS=3000 ;;
    quick) RUNS=1; SIZES="64 1024 65536"; PAIRS="1 100"
           LAT_MS=500; TPUT_MS=700; STALL_RUNS=1
           SCALE_PAIRS=1000; IDLE_MS=2000; CHURN_MS=1000 ;;
    scale) SCALE_PAIRS=10000; IDLE_MS=10000; CHURN_MS=3000 ;;
    core)  ;;
    slow)  SLOW_PAIRS=20; SLOW_MS=3000 ;;
    stall) ;;
    busy)  RUNS=5; SIZES="64 1024 65536"; BUSY_COUNTS="1 2"
           LAT_MS=1000; TPUT_MS=1500 ;;
    *)     echo "usage: bench/run.sh full | quick | scale | core | slow | stall | busy" >&2; exit 2 ;;
esac
#  Runs of the stalled reader on each engine (one sample each is noisy:
#  its neighbour's rate is compared across two phases of 3 s)
STALL_RUNS=${STALL_RUNS:-3}
if [ -n "${SQ_BENCH_ROUNDS:-}" ]; then
    case "$SQ_BENCH_ROUNDS" in
        *[!0-9]*|0*) echo "bench: SQ_BENCH_ROUNDS must be a positive number" >&2; exit 2 ;;
    esac
    RUNS=$SQ_BENCH_ROUNDS
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sq_bench.XXXXXX")
RAW=$WORK/raw.csv
PIDS=()

#  --------------------------------------------------------------------------
#  Processes

#  Stops every process this script started: TERM, then KILL after 2 s
stop_all () {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
}

on_exit () {
    stop_all
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "bench: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

#  start NAME COMMAND...: runs it in the background, logs to $WORK/NAME.log,
#  and sets STARTED to its pid. The open-files limit is raised first
#  (20 000 connections in the scale run).
start () {
    local name=$1; shift
    ( ulimit -n 65536 2>/dev/null; exec "$@" ) >"$WORK/$name.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

#  True once something listens on 127.0.0.1:PORT (within 5 s). Asks the
#  kernel rather than connecting, which would count as a client.
wait_listen () {
    for _ in $(seq 100); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    echo "bench: nothing listens on port $1" >&2
    return 1
}

#  stats GROUP KEY CONTROL_EP: one integer of the proxy's STATS, or nothing
stats () {
    "$CTL" --control "$3" --timeout 1000 STATS 2>/dev/null \
        | sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"
}

#  wait_stats GROUP KEY WANT CONTROL_EP: polls up to 10 s
wait_stats () {
    for _ in $(seq 200); do
        [ "$(stats "$1" "$2" "$4")" = "$3" ] && return 0
        sleep 0.05
    done
    echo "bench: STATS $1.$2 never reached $3 (now $(stats "$1" "$2" "$4"))" >&2
    return 1
}

#  Starts the proxy on the given ports (extra options after them) and
#  waits until its control socket answers
start_proxy () {
    local front=$1 back=$2 control=$3; shift 3
    start proxy ${CONTENDER_WRAP:-} "$PROXY" --frontend "tcp://127.0.0.1:$front" \
        --backend "tcp://127.0.0.1:$back" --control "tcp://127.0.0.1:$control" "$@"
    PROXY_PID=$STARTED
    for _ in $(seq 100); do
        "$CTL" --control "tcp://127.0.0.1:$control" --timeout 200 PING >/dev/null 2>&1 \
            && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench: the proxy did not start:" >&2
    tail -5 "$WORK/proxy.log" >&2
    return 1
}

have () {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

#  --------------------------------------------------------------------------
#  One cell of the matrix: a contender, a mechanism, a size, a pair count

#  Starts the contender and its worker. Sets ENDPOINT (where clients
#  connect) and WATCH (the pid whose CPU and memory are measured, or "").
start_contender () {
    local contender=$1 mech=$2 pairs=$3 port=$4
    local secret=() key=()
    #  NAME-batch: NAME with its process under SCHED_BATCH (chrt -b 0)
    CONTENDER_WRAP=""
    if [ "${contender%-batch}" != "$contender" ]; then
        contender=${contender%-batch}
        CONTENDER_WRAP="chrt -b 0"
    fi
    if [ "$mech" = CURVE ]; then
        secret=(--secret "$SECRET")
    fi
    local front=$port back=$((port + 1)) control=$((port + 2))
    ENDPOINT=tcp://127.0.0.1:$front
    WATCH=""
    case "$contender" in
        direct)
            #  The worker is watched: with the client's own CPU, the
            #  endpoints' cost per byte, which bounds what a proxy may use
            start worker "$BIN" worker --bind "$ENDPOINT" "${secret[@]}"
            WATCH=$STARTED
            wait_listen "$front" ;;
        streamq|splice|splice-noyield)
            local engine=(--engine stream)
            [ "$contender" = splice ] && engine=(--engine splice)
            #  The splice engine with its loop's yield off, to measure it
            [ "$contender" = splice-noyield ] && engine=(--engine splice --yield-below 0)
            start_proxy "$front" "$back" "$control" "${engine[@]}" || return 1
            WATCH=$PROXY_PID
            start worker "$BIN" worker --connect "tcp://127.0.0.1:$back" \
                --slots "$pairs" "${secret[@]}"
            wait_stats workers idle "$pairs" "tcp://127.0.0.1:$control" ;;
        broker)
            #  Security ends at the broker: CURVE in front, NULL behind
            start broker "$BIN" broker --frontend "$ENDPOINT" \
                --backend "tcp://127.0.0.1:$back" "${secret[@]}"
            WATCH=$STARTED
            wait_listen "$back" || return 1
            start worker "$BIN" worker --connect "tcp://127.0.0.1:$back" --dealer
            wait_listen "$front" ;;
        haproxy|haproxy-splice)
            start worker "$BIN" worker --bind "tcp://127.0.0.1:$back" "${secret[@]}"
            wait_listen "$back" || return 1
            haproxy_config "$front" "$back" "${contender#haproxy}" >"$WORK/haproxy.cfg"
            start haproxy $CONTENDER_WRAP "$(command -v haproxy || echo /usr/sbin/haproxy)" \
                -db -f "$WORK/haproxy.cfg"
            WATCH=$STARTED
            wait_listen "$front" ;;
        socat)
            start worker "$BIN" worker --bind "tcp://127.0.0.1:$back" "${secret[@]}"
            wait_listen "$back" || return 1
            #  nodelay as libzmq sets it: without it, Nagle and delayed ACKs
            #  add 40 ms steps to large messages
            start socat socat "TCP-LISTEN:$front,bind=127.0.0.1,reuseaddr,fork,backlog=256,nodelay" \
                "TCP:127.0.0.1:$back,nodelay"
            WATCH=$STARTED
            wait_listen "$front" ;;
    esac
}

#  A plain TCP relay, HAProxy's defaults otherwise (one thread per CPU);
#  with a third argument "-splice", it splices both ways (kernel splice(2)
#  through pipes, as it does when asked)
haproxy_config () {
    local splice=""
    [ "${3:-}" = -splice ] && splice="    option splice-request
    option splice-response"
    cat <<EOF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
$splice
frontend bench_in
    bind 127.0.0.1:$1
    default_backend bench_out
backend bench_out
    server worker 127.0.0.1:$2
EOF
}

#  One attempt at one round of a cell: its lines go to $WORK/client.out.
#  False on a failure, with the reason in $WORK/client.err
try_cell () {
    local contender=$1 mech=$2 pairs=$3 size=$4 port=$5
    local key=() watch=()
    [ "$mech" = CURVE ] && key=(--server-key "$PUBLIC")
    : >"$WORK/client.out"
    if ! start_contender "$contender" "$mech" "$pairs" "$port" 2>"$WORK/client.err"; then
        stop_all
        return 1
    fi
    [ -n "$WATCH" ] && watch=(--watch-pid "$WATCH")
    "$BIN" client --connect "$ENDPOINT" --size "$size" --pairs "$pairs" \
        --runs 1 --lat-ms "$LAT_MS" --tput-ms "$TPUT_MS" \
        "${key[@]}" "${watch[@]}" >"$WORK/client.out" 2>"$WORK/client.err"
    local status=$?
    stop_all
    return $status
}

#  Runs one round of a cell (contender mech pairs size port round) and
#  appends its lines to $RAW as contender,mech,pairs,size,KIND,FIELDS...
#  (KIND: lat, tput, mem, warmup, or fail), the run field of lat and tput
#  being the round. A failed round is tried once more, and the failure
#  noted: the figures stay complete and the failure stays visible.
run_cell () {
    local prefix="$1,$2,$3,$4" round=$6
    local attempt reason
    for attempt in 1 2; do
        if try_cell "$@"; then
            sed "s/^\(lat\|tput\),1,/\1,$round,/; s/^/$prefix,/" "$WORK/client.out" >>"$RAW"
            return
        fi
        reason=$(tail -1 "$WORK/client.err")
        echo "bench: $prefix round $round failed (attempt $attempt): $reason" >&2
        if [ $attempt = 1 ]; then
            echo "note,$1 $2 $3 pairs $4 B round $round failed ($reason) and was run again" >>"$WORK/notes"
        else
            echo "note,$1 $2 $3 pairs $4 B round $round failed again ($reason): no figures" >>"$WORK/notes"
        fi
    done
    echo "$prefix,fail,client" >>"$RAW"
}

#  Every cell of a mechanism, size and pair count runs RUNS rounds, and
#  each round runs every contender once, starting one contender further
#  along each time: a contender is compared with the direct figure of its
#  own round, so a slow spell of the machine weighs on both alike
run_matrix () {
    local cell=0 mech pairs size contender round index todo=()
    for contender in $CONTENDERS; do
        local base=${contender%-batch}
        case "$base" in
            streamq|splice|splice-noyield|haproxy|haproxy-splice) ;;
            direct|broker|socat)
                if [ "$base" != "$contender" ]; then
                    echo "note,$contender: only the proxy's engines and HAProxy run under SCHED_BATCH: skipped" >>"$WORK/notes"
                    continue
                fi ;;
            *)  echo "note,$contender: no such contender: skipped" >>"$WORK/notes"
                continue ;;
        esac
        case "$base" in
            haproxy*|socat)
                if ! have "${base%-splice}"; then
                    echo "note,$contender not installed: skipped" >>"$WORK/notes"
                    continue
                fi ;;
        esac
        todo+=("$contender")
    done
    local count=${#todo[@]}
    local total=$(( $(echo $SIZES | wc -w) * $(echo $PAIRS | wc -w) * 2 * count * RUNS ))
    for mech in NULL CURVE; do
        for pairs in $PAIRS; do
            for size in $SIZES; do
                for round in $(seq "$RUNS"); do
                    for index in $(seq 0 $((count - 1))); do
                        contender=${todo[$(( (index + round - 1) % count ))]}
                        cell=$((cell + 1))
                        printf 'bench: [%d/%d] %-8s %-5s %3s pairs %7s B, round %d\n' \
                            "$cell" "$total" "$contender" "$mech" "$pairs" "$size" \
                            "$round" >&2
                        #  Fresh ports each time: nothing of the last one lingers
                        run_cell "$contender" "$mech" "$pairs" "$size" \
                            $((PORT_BASE + (cell % 40) * 5)) "$round"
                    done
                done
            done
        done
    done
}

#  --------------------------------------------------------------------------
#  Scale runs and the core

#  One scale run on one engine; its lines go to $RAW as scale,KEY,VALUE
#  (stream) or scale-splice,KEY,VALUE
run_scale_on () {
    local engine=$1 offset=$2
    local front=$((PORT_BASE + offset)) back=$((PORT_BASE + offset + 1))
    local control=$((PORT_BASE + offset + 2)) prefix=scale
    [ "$engine" = stream ] || prefix=scale-$engine
    echo "bench: scale ($engine): $SCALE_PAIRS idle pairs, then the pairing rate" >&2
    #  A large queue, and no linger: the pairing rate must measure the
    #  proxy, not the 100 ms grace it gives a closing connection. Room for
    #  every pair on each side: the default, from the open-file limit,
    #  keeps a reserve for libzmq that these peers leave unused.
    if ! start_proxy "$front" "$back" "$control" --engine "$engine" --log-level warning \
            --max-queue 100000 --close-linger 0 --max-connections "$SCALE_PAIRS"; then
        echo "$prefix,failed,1" >>"$RAW"
        return
    fi
    ( ulimit -n 65536 2>/dev/null
      exec "$BIN" scale --frontend "tcp://127.0.0.1:$front" --backend "tcp://127.0.0.1:$back" \
        --control "tcp://127.0.0.1:$control" --pid "$PROXY_PID" --pairs "$SCALE_PAIRS" \
        --idle-ms "$IDLE_MS" --churn-ms "$CHURN_MS" ) >"$WORK/scale.out" 2>"$WORK/scale.err"
    local status=$?
    sed "s/^scale,/$prefix,/" "$WORK/scale.out" >>"$RAW"
    if [ $status -ne 0 ]; then
        echo "$prefix,failed,1" >>"$RAW"
        echo "bench: scale run ($engine) failed: $(tail -3 "$WORK/scale.err")" >&2
    fi
    stop_all
}

run_scale () {
    #  The proxy and the peers each hold every connection: both need an
    #  open-file limit above 2 x pairs. Where the hard limit cannot be
    #  raised, run as many pairs as it allows, and say so.
    local hard
    hard=$( (ulimit -n 65536 2>/dev/null; ulimit -n) )
    if [ "$hard" != unlimited ] && [ $((2 * SCALE_PAIRS + 100)) -gt "$hard" ]; then
        echo "note,the open-file limit here is $hard and cannot be raised: the scale run used $(( (hard - 100) / 2 )) pairs instead of $SCALE_PAIRS" >>"$WORK/notes"
        SCALE_PAIRS=$(( (hard - 100) / 2 ))
    fi
    local engine offset=400
    for engine in $ENGINES; do
        run_scale_on "$engine" "$offset"
        offset=$((offset + 5))
    done
}

#  --------------------------------------------------------------------------
#  A worker that reads nothing for a while, its client sending a large
#  message, a neighbouring pair beside it (on each engine, default options)

STALL_MS=3000
STALL_SIZE=$((32 * 1024 * 1024))

#  Every run of each engine, the engines taking turns: the report keeps
#  the median neighbour's ratio, the largest growth, and whether every
#  message arrived whole
run_stall () {
    local run
    for run in $(seq "$STALL_RUNS"); do
        run_stall_once "$run"
    done
}

run_stall_once () {
    local engine offset=440
    for engine in $ENGINES; do
        local front=$((PORT_BASE + offset)) back=$((PORT_BASE + offset + 1))
        local control=$((PORT_BASE + offset + 2))
        offset=$((offset + 5))
        echo "bench: stalled reader ($engine), run $1 of $STALL_RUNS: $STALL_SIZE bytes," \
             "$STALL_MS ms" >&2
        if ! start_proxy "$front" "$back" "$control" --engine "$engine" --log-level warning; then
            echo "note,stalled reader ($engine): the proxy did not start" >>"$WORK/notes"
            stop_all
            continue
        fi
        local proxy_pid=$PROXY_PID
        start worker "$BIN" worker --connect "tcp://127.0.0.1:$back" --slots 1
        if wait_stats workers idle 1 "tcp://127.0.0.1:$control" 2>>"$WORK/stall.err" \
        && "$BIN" stall --frontend "tcp://127.0.0.1:$front" --backend "tcp://127.0.0.1:$back" \
               --control "tcp://127.0.0.1:$control" --pid "$proxy_pid" --ms "$STALL_MS" \
               --size "$STALL_SIZE" --label "$engine" >"$WORK/stall.out" 2>>"$WORK/stall.err"; then
            cat "$WORK/stall.out" >>"$RAW"
        else
            echo "note,stalled reader ($engine) failed: $(tail -1 "$WORK/stall.err")" >>"$WORK/notes"
        fi
        stop_all
    done
}

run_core () {
    local quick=()
    [ "$MODE" = quick ] && quick=(--quick)
    echo "bench: core benchmark" >&2
    "$CORE_BIN" "${quick[@]}" --csv "$WORK/core.csv" >"$WORK/core.md" \
        || echo "bench: the core benchmark failed" >&2
}

#  --------------------------------------------------------------------------
#  Beside processes that compute without sleeping

#  The contenders of the busy runs: direct, and the splice engine with its
#  loop's yield (the default) and without
BUSY_CONTENDERS="direct splice splice-noyield"

#  One round of one contender (contender busy size round port) with BUSY
#  processes computing beside it: its lines go to $WORK/busy.csv as
#  busy,size,contender,round,KIND,FIELDS... (KIND: lat, tput, or busy with
#  the loops the busy processes did a second, in all)
run_busy_cell () {
    local contender=$1 busy=$2 size=$3 round=$4 port=$5 index
    local prefix="$busy,$size,$contender,$round"
    if ! start_contender "$contender" NULL 1 "$port" 2>>"$WORK/busy.err"; then
        echo "note,busy: $contender, $busy busy, $size B, round $round did not start" >>"$WORK/notes"
        stop_all
        return
    fi
    for index in $(seq "$busy"); do
        start "busy$index" "$BIN" busy
    done
    "$BIN" client --connect "$ENDPOINT" --size "$size" --pairs 1 --runs 1 \
        --lat-ms "$LAT_MS" --tput-ms "$TPUT_MS" --watch-pid "$WATCH" \
        >"$WORK/client.out" 2>>"$WORK/busy.err"
    local status=$?
    stop_all
    if [ $status -ne 0 ]; then
        echo "note,busy: $contender, $busy busy, $size B, round $round failed: $(tail -1 "$WORK/busy.err")" >>"$WORK/notes"
        return
    fi
    sed -n "s/^\(lat\|tput\),1,/$prefix,\1,/p" "$WORK/client.out" >>"$WORK/busy.csv"
    for index in $(seq "$busy"); do
        sed -n "s/^busy,/$prefix,busy,/p" "$WORK/busy$index.log" >>"$WORK/busy.csv"
    done
}

#  Every size and count of busy processes, RUNS rounds, the contenders
#  taking turns as in the matrix
run_busy () {
    local todo=($BUSY_CONTENDERS) busy size round index cell=0
    local count=${#todo[@]}
    local total=$(( $(echo $BUSY_COUNTS | wc -w) * $(echo $SIZES | wc -w) * RUNS * count ))
    : >"$WORK/busy.csv"
    for busy in $BUSY_COUNTS; do
        for size in $SIZES; do
            for round in $(seq "$RUNS"); do
                for index in $(seq 0 $((count - 1))); do
                    local contender=${todo[$(( (index + round - 1) % count ))]}
                    cell=$((cell + 1))
                    printf 'bench: [%d/%d] %-14s beside %d busy, %5s B, round %d\n' \
                        "$cell" "$total" "$contender" "$busy" "$size" "$round" >&2
                    run_busy_cell "$contender" "$busy" "$size" "$round" \
                        $((PORT_BASE + (cell % 40) * 5))
                done
            done
        done
    done
}

#  --------------------------------------------------------------------------
#  A peer that never reads

#  The proxy's options in every slow-peer run, besides --slow-peer and --peer-hwm
SLOW_OPTIONS="--max-pair-buffer 1M --max-buffer 64M --log-level warning"
#  policy:peer-hwm, in the order run
SLOW_CONFIGS="disconnect:1000 block:1000 disconnect:64 block:64"

#  True while PID runs: a process that died stays a zombie until waited
#  for, and kill -0 still finds a zombie
alive () {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
}

#  The largest "its pair holds N bytes" of the proxy's log, in MiB, or -
held_at_close () {
    sed -n 's/.*slow peer, its pair holds \([0-9]*\) bytes.*/\1/p' "$WORK/proxy.log" \
        | sort -n | tail -1 | awk '{ printf "%.2f", $1 / 1048576 } END { if (!NR) printf "-" }'
}

#  One configuration: a fresh proxy and echo worker, then sq_bench slow.
#  Its table rows go to $WORK/slow.main and $WORK/slow.recovery.
run_slow_one () {
    local policy=$1 hwm=$2 port=$3
    local front=$port back=$((port + 1)) control=$((port + 2))
    local label="$policy, --peer-hwm $hwm"
    echo "bench: slow peer: $label" >&2
    # shellcheck disable=SC2086
    if ! start_proxy "$front" "$back" "$control" $SLOW_OPTIONS \
            --slow-peer "$policy" --peer-hwm "$hwm" 2>>"$WORK/slow.err"; then
        echo "note,$label: the proxy did not start" >>"$WORK/notes"
        stop_all
        return
    fi
    local proxy_pid=$PROXY_PID
    start worker "$BIN" worker --connect "tcp://127.0.0.1:$back" --slots "$SLOW_PAIRS"
    if ! wait_stats workers idle "$SLOW_PAIRS" "tcp://127.0.0.1:$control" 2>>"$WORK/slow.err"; then
        echo "note,$label: the echo worker's slots never all became idle" >>"$WORK/notes"
        stop_all
        return
    fi
    "$BIN" slow --frontend "tcp://127.0.0.1:$front" --backend "tcp://127.0.0.1:$back" \
        --control "tcp://127.0.0.1:$control" --pid "$proxy_pid" --pairs "$SLOW_PAIRS" \
        --ms "$SLOW_MS" --peer-hwm "$hwm" --label "$label" \
        >"$WORK/slow.out" 2>>"$WORK/slow.err"
    local status=$?
    if ! alive "$proxy_pid"; then
        echo "note,$label: the proxy exited during the run; its log ends: $(tail -3 "$WORK/proxy.log" | tr '\n' ' ')" >>"$WORK/notes"
    elif [ $status -ne 0 ]; then
        echo "note,$label: sq_bench slow failed: $(tail -1 "$WORK/slow.err")" >>"$WORK/notes"
    fi
    sed -n "s/^main|\(.*\)/\1 $(held_at_close) |/p" "$WORK/slow.out" >>"$WORK/slow.main"
    sed -n 's/^recovery|//p' "$WORK/slow.out" >>"$WORK/slow.recovery"
    stop_all
}

run_slow () {
    local index=0 config
    : >"$WORK/slow.main"
    : >"$WORK/slow.recovery"
    for config in $SLOW_CONFIGS; do
        run_slow_one "${config%%:*}" "${config##*:}" $((PORT_BASE + 420 + index * 3))
        index=$((index + 1))
    done
}

#  slow.md: what ran where, the two tables, how to read them, the notes
slow_report () {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    echo "## StreamQ-Proxy with a peer that never reads"
    echo
    echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs ($cpu), Linux $(uname -r)," \
         "libzmq $("$BIN" version), $("$PROXY" --version); $SLOW_PAIRS echo pairs of 1 KiB," \
         "$SLOW_MS ms per phase; proxy options $SLOW_OPTIONS plus those of each row;" \
         "load average $LOAD_START before, $(cut -d' ' -f1-3 /proc/loadavg) after."
    echo
    echo "### Echo pairs beside a peer that never reads"
    echo
    echo "| config | baseline rt/s | rt/s with the slow peer | RSS base MiB | RSS peak MiB | VmHWM MiB | expected <= MiB | within | held peak MiB (sampled) | pair bound MiB | slow-peer closes | reading stops front / back | proxy CPU base / slow | flood MiB out | held at the close MiB (log) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    cat "$WORK/slow.main"
    if [ -s "$WORK/slow.recovery" ]; then
        echo
        echo "### Block: the slow worker starts reading, then the flooder stops"
        echo
        echo "| config | flood moves after ms | other pairs move after ms | other pairs at >= 1/2 baseline after ms | rt/s, flood on | flood MiB/s | frontend reading stops | flooder stopped: >= 1/2 baseline after ms | rt/s, flood off |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        cat "$WORK/slow.recovery"
    fi
    echo
    echo "expected <= MiB: RSS base + the pair bound + 2 connections (the flooder's" \
         "and the slow worker's) x 2 directions x --peer-hwm x 8 KiB + 4 MiB of slack;" \
         "within: the larger of RSS peak and VmHWM stays under it."
    if [ -s "$WORK/notes" ]; then
        echo
        sed 's/^note,/Note: /' "$WORK/notes"
    fi
}

#  What the figures came from
write_machine () {
    {
        echo "mode=$MODE"
        echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
        echo "nproc=$(nproc)"
        echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
        echo "kernel=$(uname -r)"
        echo "libzmq=$("$BIN" version 2>/dev/null)"
        echo "proxy=$("$PROXY" --version 2>/dev/null)"
        have haproxy && echo "haproxy=$(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f3)"
        have socat && echo "socat=$(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
        echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "runs=${RUNS:-}"
        echo "lat_ms=${LAT_MS:-}"
        echo "tput_ms=${TPUT_MS:-}"
    } >"$WORK/machine"
}

#  --------------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for needed in "$BIN" "$PROXY" "$CTL"; do
    [ "$MODE" = core ] && break
    [ -x "$needed" ] || { echo "bench: $needed is missing (make builds it)" >&2; exit 1; }
done
mkdir -p "$RESULTS"
#  The proxy measured is the one built now, even if it is rebuilt meanwhile
if [ "$MODE" != core ]; then
    cp "$PROXY" "$WORK/streamq-proxy" && PROXY=$WORK/streamq-proxy
fi
: >"$RAW"
: >"$WORK/notes"
if [ "$MODE" != core ] && [ "$MODE" != slow ]; then
    KEYS=$("$BIN" keygen) || exit 1
    PUBLIC=$(echo "$KEYS" | sed -n 's/^public=//p')
    SECRET=$(echo "$KEYS" | sed -n 's/^secret=//p')
    write_machine
fi
START=$(date +%s)
case "$MODE" in
    full|quick) run_matrix; run_scale; run_stall; run_core ;;
    scale)      run_scale ;;
    stall)      run_stall ;;
    core)       run_core ;;
    slow)       run_slow ;;
    busy)       run_busy ;;
esac
echo "bench: measured in $(( $(date +%s) - START )) s" >&2
[ -f "$WORK/machine" ] && echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine"

if [ "$MODE" = slow ]; then
    slow_report >"$RESULTS/slow.md"
    cat "$RESULTS/slow.md"
    exit 0
fi
if [ "$MODE" = busy ]; then
    python3 "$HERE/busy_report.py" --csv "$WORK/busy.csv" --machine "$WORK/machine" \
        --notes "$WORK/notes" >"$RESULTS/busy.md" || exit 1
    cat "$RESULTS/busy.md"
    exit 0
fi
if [ "$MODE" = core ]; then
    cat "$WORK/core.md"
    cp "$WORK/core.csv" "$RESULTS/core.csv"
    exit 0
fi
python3 "$HERE/report.py" --mode "$MODE" --raw "$RAW" --machine "$WORK/machine" \
    --notes "$WORK/notes" --core "$WORK/core.csv" --results "$RESULTS"
