#!/bin/sh
#  Runs each test binary given, keeps its output in a log beside it, and prints
#  one closing line "N passed, N failed" summed over all of them.
#  The binaries after an argument "--engines" run once per engine, with
#  SQ_ENGINE set (so the harness starts the proxy with that --engine): the
#  engine $SQ_ENGINE when it is set, else each of $SQ_ENGINES (default
#  "stream splice"); their logs are <binary>.<engine>.log.
#  $SQ_TEST_WRAPPER, when set, is a command put before each test's (e.g.
#  valgrind and its options).
passed=0; failed=0; broken=""
engines=${SQ_ENGINE:-${SQ_ENGINES:-stream splice}}

#  run_one BINARY ENGINE: ENGINE "" runs it as it is
run_one () {
    t=$1; engine=$2
    log="$t${engine:+.$engine}.log"
    name="$(basename "$t")${engine:+ ($engine)}"
    echo "== $name"
    if [ -n "$engine" ]; then
        if SQ_ENGINE=$engine ${SQ_TEST_WRAPPER:-} "$t" >"$log" 2>&1; then status=0; else status=$?; fi
    else
        if ${SQ_TEST_WRAPPER:-} "$t" >"$log" 2>&1; then status=0; else status=$?; fi
    fi
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

per_engine=""
for t in "$@"; do
    if [ "$t" = --engines ]; then
        per_engine=yes
        continue
    fi
    if [ -n "$per_engine" ]; then
        for engine in $engines; do
            run_one "$t" "$engine"
        done
    else
        run_one "$t" ""
    fi
done
[ -z "$broken" ] || echo "failing:$broken"
echo "$passed passed, $failed failed"
[ -z "$broken" ] && [ "$failed" -eq 0 ]
