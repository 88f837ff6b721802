#!/bin/sh
#  Reads valgrind memcheck reports and fails if any holds an error or a
#  definite or indirect leak. Prints one line per report with a problem,
#  then the total. A report without its ERROR SUMMARY (a proxy killed by
#  SIGKILL) is checked for the errors it logged before it died.
if [ "$#" -eq 0 ] || [ ! -e "$1" ]; then
    echo "valgrind-check: no report"
    exit 1
fi
bad=0
for report in "$@"; do
    summary=$(grep -E '== ERROR SUMMARY: [0-9]+ errors' "$report" | tail -n 1)
    errors=$(echo "$summary" | sed -E 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/')
    #  Errors are logged as they happen; leaks only at exit
    logged=$(grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument .* of function)' "$report")
    leaks=$(grep -E '(definitely|indirectly) lost: [1-9]' "$report" | head -n 2 | tr -s ' ')
    if [ "${errors:-0}" -ne 0 ] || [ "$logged" -ne 0 ] || [ -n "$leaks" ]; then
        bad=$((bad + 1))
        echo "valgrind-check: $report: ${errors:-?} errors, $logged logged${leaks:+, }$leaks"
    fi
done
echo "valgrind-check: $# reports, $bad with errors or leaks"
[ "$bad" -eq 0 ]
