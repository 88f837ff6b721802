#!/bin/sh
#  Runs each test binary given, keeps its output in a log beside it, and prints
#  one closing line "N passed, N failed" summed over all of them.
#  $SQ_TEST_WRAPPER, when set, is a command put before each test's (e.g.
#  valgrind and its options).
passed=0; failed=0; broken=""
for t in "$@"; do
    log="$t.log"
    echo "== $(basename "$t")"
    if ${SQ_TEST_WRAPPER:-} "$t" >"$log" 2>&1; then status=0; else status=$?; fi
    grep -E '^(ok|FAIL) ' "$log" | sed 's/^/   /'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$line" ] || [ "$status" -ne 0 ]; then
        broken="$broken $(basename "$t")"
        [ -n "$line" ] || failed=$((failed + 1))
        echo "   (exit $status; last lines of $log:)"
        tail -n 30 "$log" | sed 's/^/   | /'
    fi
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    fi
done
[ -z "$broken" ] || echo "failing:$broken"
echo "$passed passed, $failed failed"
[ -z "$broken" ] && [ "$failed" -eq 0 ]
