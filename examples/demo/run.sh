#!/bin/sh
# make demo: run examples/hello-ci's CI job in a fresh sandbox, show what the sandbox
# is and is not allowed to do, a job with its own PostgreSQL and Redis
# (examples/services), a copy-on-write checkout, secrets (granted and masked), a TTL, and
# the timings. Usage: run.sh /path/to/mayfly
set -eu
mayfly=${1:?usage: run.sh MAYFLY_BINARY}
here=$(cd "$(dirname "$0")/.." && pwd)
state=${MAYFLY_STATE_DIR:-}
if [ -z "$state" ] && [ "$(id -u)" != 0 ]; then state="${XDG_STATE_HOME:-$HOME/.local/state}/mayfly"; fi
set -- "$mayfly"
[ -n "$state" ] && set -- "$@" --state-dir "$state"

echo "== 1. the CI job of examples/hello-ci, in a sandbox (512M memory, 2 minute TTL)"
"$@" exec --json --memory 512M --pids 256 --ttl 2m \
	--bind "$here/hello-ci:/workspace/src:ro" -- \
	sh -c 'cp -r /workspace/src /workspace/build && cd /workspace/build && make -s test' \
	2>/tmp/mayfly-demo.$$ || { cat /tmp/mayfly-demo.$$; rm -f /tmp/mayfly-demo.$$; exit 1; }
summary=$(tail -n 1 /tmp/mayfly-demo.$$)
rm -f /tmp/mayfly-demo.$$

echo
echo "== 2. what the job sees (each line is checked inside the sandbox)"
"$@" exec -- sh -c '
	echo "user:      $(id -un) (uid $(id -u)), host uid $(awk -v u=$(id -u) "\$1<=u && u<\$1+\$3 {print \$2+u-\$1}" /proc/self/uid_map)"
	echo "hostname:  $(hostname)"
	echo "processes: $(ls /proc | grep -c "^[0-9]") visible (the sandbox only)"
	echo "network:   $(ls /sys/class/net 2>/dev/null || awk -F: "NR>2{print \$1}" /proc/net/dev | tr -d " " | tr "\n" " ")"
	if getent hosts example.com >/dev/null 2>&1; then echo "dns:       resolves (unexpected!)"; else echo "dns:       none"; fi
	if touch /usr/x 2>/dev/null; then echo "/usr:      writable (unexpected!)"; else echo "/usr:      read-only"; fi
	if touch /workspace/x; then echo "/workspace: writable scratch"; fi
	echo "caps:      $(grep CapEff /proc/self/status | cut -f2), seccomp mode $(grep "^Seccomp:" /proc/self/status | cut -f2)"
'

if [ -d /usr/lib/postgresql ] && command -v redis-server >/dev/null; then
	echo
	echo "== 3. a job with its own PostgreSQL and Redis (examples/services; gone afterwards)"
	"$@" exec --service postgres --service redis \
		--service-init "$here/services/schema.sql" \
		--bind "$here/services:/workspace/src:ro" -- sh /workspace/src/test.sh
	echo "   and a second job starts from the template again:"
	"$@" exec --service postgres --service-init "$here/services/schema.sql" -- \
		psql -qAtc "select '   rows: ' || count(*) || ', done: ' || count(*) filter (where done) from todos"
else
	echo
	echo "== 3. (skipped: PostgreSQL or Redis is not installed: apt-get install postgresql redis-server)"
fi

if git -C "$here/.." rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo
	echo "== 4. this repository's HEAD, checked out copy-on-write (--repo; cached for the next job)"
	"$@" exec --repo "$here/.." --ref HEAD -- sh -c \
		'echo "   $(git log --oneline -1 | cut -c1-60)"; echo "   $(ls | wc -l) entries, $(git status --short | wc -l) changes, owner $(stat -c %U Makefile)"'
fi

echo
echo "== 5. a secret the job may use but never sees (--grant), and one it sees, masked"
secrets=$(mktemp -d)
chmod 711 "$secrets"
printf 'demo-signing-key-%s' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" |
	"$mayfly" --state-dir "$secrets/state" secrets set demo WEBHOOK_KEY
printf 'demo-api-token-%s' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" |
	"$mayfly" --state-dir "$secrets/state" secrets set demo API_TOKEN
"$mayfly" --state-dir "$secrets/state" exec --from demo --grant sign:WEBHOOK_KEY \
	--secret API_TOKEN -- sh -c '
	echo "   signature by the broker: $(printf "hello" | /run/mayfly/mayfly broker sign WEBHOOK_KEY | cut -c1-32)..."
	if env | grep -q WEBHOOK_KEY; then echo "   WEBHOOK_KEY is in the environment (unexpected!)"; else echo "   WEBHOOK_KEY: not in the sandbox"; fi
	echo "   API_TOKEN printed by the job: $API_TOKEN"'
"$mayfly" --state-dir "$secrets/state" audit | sed "s/^/   /" | cut -c1-132
rm -rf "$secrets"

echo
echo "== 6. a runaway job meets its TTL (2s) and its daemons die with it"
set +e
"$@" exec --ttl 2s -- sh -c 'setsid sleep 1000 & sleep 1000'
echo "exit status: $? (124: TTL)"
set -e

echo
echo "== timings of job 1 (mayfly exec --json):"
echo "$summary" | sed 's/[{}"]//g' | tr ',' '\n' | grep -E '_us|exit_code|^id' | sed 's/^/   /'
