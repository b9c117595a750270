#!/bin/sh
# The CI job of examples/hello-ci on checkouts instead of a bind: a repository is made from
# it (in a temporary directory), a job runs at a commit, an edit is tried without
# committing (--repo .), and the cache is shown. Usage: run.sh /path/to/mayfly
set -eu
mayfly=${1:?usage: run.sh MAYFLY_BINARY}
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(mktemp -d /tmp/mayfly-checkout-example-XXXXXX)
trap 'rm -rf "$repo"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=example GIT_AUTHOR_EMAIL=example@localhost
export GIT_COMMITTER_NAME=example GIT_COMMITTER_EMAIL=example@localhost

cp -r "$here/hello-ci/." "$repo"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -qm "hello-ci"
git -C "$repo" tag v1

echo "== 1. the job at a commit: a checkout with a working .git, the tree cached for later jobs"
"$mayfly" exec --repo "$repo" --ref v1 -- sh -c 'git describe --tags; git status --short; make -s test'

echo
echo "== 2. an uncommitted edit, tried in a sandbox: --repo . takes the work tree as it is"
sed -i 's/^exit \$fail$/check "a b c" 3\nexit $fail/' "$repo/test.sh"
(cd "$repo" && "$mayfly" exec --repo . -- sh -c 'git status --short; make -s test | tail -n 2')

echo
echo "== 3. what the cache holds (the tree of v1 serves both jobs)"
"$mayfly" cache ls
