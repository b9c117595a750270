#!/bin/sh
# The project's tests, as a CI job would run them.
set -e
fail=0
check() {
	got=$(printf '%s' "$1" | ./wordcount)
	if [ "$got" = "$2" ]; then echo "ok - '$1' has $2 words"; else echo "not ok - '$1': $got != $2"; fail=1; fi
}
check "" 0
check "one" 1
check "two words" 2
check "  spaced   out  words " 3
exit $fail
