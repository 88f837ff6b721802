#!/bin/sh
#  Runs each test binary given, keeps its output in a log beside it, and prints
#  one closing line "N passed, N failed" summed over all of them.
#  The binaries after an argument "--engines" run once per engine, with
#  SQ_ENGINE set (so the harness starts the proxy with that --engine): the
#  engine $SQ_ENGINE when it is set, else each of $SQ_ENGINES (default
#  "stream splice"); their logs are <binary>.<engine>.log.
#  $SQ_TEST_WRAPPER, when set, is a command put before each test's (e.g.
#  valgrind and its options).
#  $SQ_JOBS (default 1) runs that many test binaries at once. The tests
#  spend most of their time waiting for the quiet periods and timers they
#  check, so a few at once take much less time than one after the other;
#  with more than one, each test's report is printed, in order, once all
#  have ended. The runs of one binary on each engine go one after the
#  other, as its files (logs, keys, configurations) are named after it.
#  "run.sh --one BINARY ENGINE..." runs one binary on each ENGINE given,
#  into their logs ("-": no engine).
passed=0; failed=0; broken=""
engines=${SQ_ENGINE:-${SQ_ENGINES:-stream splice}}
jobs=${SQ_JOBS:-1}

#  log_of BINARY ENGINE: the test's log
log_of () {
    echo "$1${2:+.$2}.log"
}

#  execute BINARY ENGINE: runs the test into its log, and its exit status
#  into <log>.status; ENGINE "" runs it as it is
execute () {
    t=$1; engine=$2; log=$(log_of "$t" "$engine")
    if [ -n "$engine" ]; then
        if SQ_ENGINE=$engine ${SQ_TEST_WRAPPER:-} "$t" >"$log" 2>&1; then status=0; else status=$?; fi
    else
        if ${SQ_TEST_WRAPPER:-} "$t" >"$log" 2>&1; then status=0; else status=$?; fi
    fi
    echo "$status" >"$log.status"
}

#  title BINARY ENGINE: the test's heading
title () {
    echo "== $(basename "$1")${2:+ ($2)}"
}

#  report BINARY ENGINE: prints what the test's log says, and adds its counts
report () {
    t=$1; engine=$2; log=$(log_of "$t" "$engine")
    status=$(cat "$log.status" 2>/dev/null || echo 127)
    rm -f "$log.status"
    grep -E '^(ok|FAIL) ' "$log" | sed 's/^/   /'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ] || [ "$status" -ne 0 ]; then
        broken="$broken $(basename "$t")${engine:+:$engine}"
        [ -n "$line" ] || failed=$((failed + 1))
        echo "   (exit $status; last lines of $log:)"
        tail -n 30 "$log" | sed 's/^/   | /'
    fi
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    fi
}

if [ "${1:-}" = --one ]; then
    t=$2
    shift 2
    for engine in "$@"; do
        [ "$engine" = - ] && engine=""
        execute "$t" "$engine"
    done
    exit 0
fi

#  The binaries, "BINARY ENGINE..." a line ("-": no engine)
binaries=""
per_engine=""
for t in "$@"; do
    if [ "$t" = --engines ]; then
        per_engine=yes
        continue
    fi
    list=-
    [ -n "$per_engine" ] && list=$engines
    binaries="$binaries$t $list
"
done

if [ "$jobs" -gt 1 ]; then
    echo "(running $jobs test binaries at once; their reports follow when all have ended)"
    printf '%s' "$binaries" | xargs -P "$jobs" -L 1 sh "$0" --one
fi
while read -r t list; do
    [ -n "$t" ] || continue
    for engine in $list; do
        [ "$engine" = - ] && engine=""
        title "$t" "$engine"
        [ "$jobs" -gt 1 ] || execute "$t" "$engine"
        report "$t" "$engine"
    done
done <<EOF
$binaries
EOF
[ -z "$broken" ] || echo "failing:$broken"
echo "$passed passed, $failed failed"
[ -z "$broken" ] && [ "$failed" -eq 0 ]
