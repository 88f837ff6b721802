#!/bin/sh
#  Runs libFuzzer targets one after the other, each for a time budget, on a
#  scratch copy of its seeds and regressions: the tree is never written to.
#
#    fuzz/run.sh [--keep-new] SECONDS FUZZ_BUILD TARGET:MAX_LEN...
#
#  Target T is the binary FUZZ_BUILD/fuzz_T, with fuzz/corpus/T/ and
#  fuzz/regressions/T/ as seeds and fuzz/T.dict as dictionary when there is
#  one. Its scratch directory is FUZZ_BUILD/run/T/, its findings go to
#  FUZZ_BUILD/run/T/findings/. With --keep-new, the inputs found that add
#  coverage beyond the seeds are merged into FUZZ_BUILD/new/T/ afterwards.
#  Exits 1 when any target had a finding (crash, leak, timeout, memory).
set -u
keep_new=0
if [ "${1:-}" = "--keep-new" ]; then keep_new=1; shift; fi
[ $# -ge 3 ] || { echo "usage: $0 [--keep-new] SECONDS FUZZ_BUILD TARGET:MAX_LEN..." >&2; exit 2; }
seconds=$1 build=$2
shift 2

#  Copies the seeds of target $1 into directory $2
seed () {
    mkdir -p "$2"
    for dir in "fuzz/corpus/$1" "fuzz/regressions/$1"; do
        [ -d "$dir" ] || continue
        find "$dir" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$2"/ \;
    done
}

#  Merges what target $1 found in $2 into FUZZ_BUILD/new/$1, minus the seeds
keep () {
    new="$build/new/$1"
    rm -rf "$new"
    seed "$1" "$new"
    "$build/fuzz_$1" -merge=1 -max_len="$3" "$new" "$2" >"$build/run/$1/merge.log" 2>&1 \
        || { echo "   merge failed, see $build/run/$1/merge.log"; return; }
    for dir in "fuzz/corpus/$1" "fuzz/regressions/$1"; do
        [ -d "$dir" ] || continue
        for file in "$dir"/*; do rm -f "$new/$(basename "$file")"; done
    done
    echo "   $(ls "$new" | wc -l) new inputs in $new"
}

failed=""
for spec in "$@"; do
    target=${spec%%:*} max_len=${spec#*:}
    work="$build/run/$target"
    rm -rf "$work"
    mkdir -p "$work/findings"
    seed "$target" "$work/corpus"
    dict=""
    [ -f "fuzz/$target.dict" ] && dict="-dict=fuzz/$target.dict"
    echo "== fuzz_$target: ${seconds} s"
    if "$build/fuzz_$target" -max_total_time="$seconds" -max_len="$max_len" \
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$work/findings/" $dict "$work/corpus" >"$work/log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
        echo "   ok: $runs runs, $(ls "$work/corpus" | wc -l) inputs in corpus, no finding"
        [ $keep_new -eq 0 ] || keep "$target" "$work/corpus" "$max_len"
    else
        failed="$failed $target"
        echo "   FINDING (last lines of $work/log):"
        tail -n 40 "$work/log" | sed 's/^/   | /'
        for file in "$work/findings"/*; do
            [ -f "$file" ] || continue
            echo "   input: $file"
            echo "   replay: make build/tests/test_fuzz_$target && build/tests/test_fuzz_$target $file"
            echo "   once fixed, add it to fuzz/regressions/$target/"
        done
    fi
done
[ -z "$failed" ] || { echo "fuzz: findings in:$failed"; exit 1; }
echo "fuzz: no finding"
