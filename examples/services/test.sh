#!/bin/sh
# A CI job that needs a database and a cache: its own PostgreSQL (schema from
# schema.sql) and Redis, on localhost, found through DATABASE_URL and REDIS_URL.
#   mayfly exec --service postgres --service redis --service-init schema.sql \
#       --bind "$PWD:/workspace/src:ro" -- sh /workspace/src/test.sh
set -e
fail=0
check() {
	if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; fail=1; fi
}
check "the schema is there" "$(psql "$DATABASE_URL" -qAtc 'select count(*) from todos')" 2
psql "$DATABASE_URL" -qc "update todos set done = true where title = 'write the schema'"
check "an update sticks" "$(psql "$DATABASE_URL" -qAtc 'select count(*) from todos where done')" 1
check "redis counts" "$(redis-cli -u "$REDIS_URL" incr runs)" 1
check "redis counts again" "$(redis-cli -u "$REDIS_URL" incr runs)" 2
exit $fail
