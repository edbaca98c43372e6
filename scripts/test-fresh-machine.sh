#!/usr/bin/env bash
# The README test command on a machine with only Node and npm: runs tap (on the given test files,
# or on the files that use external tools) with a PATH that hides the Debian peers, helm, promtool
# and the rest (every other program on PATH stays reachable), without .tools/bin and with CI unset.
# Passes when tap passes and every missing tool shows up as a one-line skip naming what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hidden=(docker-registry skopeo htpasswd openssl tinyproxy script helm promtool wrk docker)
bin=$(mktemp -d)
out=$(mktemp)
trap 'rm -rf "$bin" "$out"' EXIT
IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  case "$dir" in */.tools/bin) continue ;; esac
  [ -d "$dir" ] || continue
  for f in "$dir"/*; do
    name=${f##*/}
    [ -x "$f" ] && [ ! -e "$bin/$name" ] || continue
    case " ${hidden[*]} " in *" $name "*) continue ;; esac
    ln -s "$f" "$bin/$name"
  done
done
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(test/e2e/registry-test.test.ts test/registry/client.test.ts test/transport/http-client.test.ts
    test/helm/chart.test.ts test/kube/client.test.ts)
fi
status=0
env -u CI PATH="$bin" CREDBROKER_TOOLS_BIN= node_modules/.bin/tap --disable-coverage --reporter=tap "${files[@]}" >"$out" 2>&1 || status=$?
skips=$(grep -cE '# SKIP needs [a-z, -]+ \(not found on PATH\): install (it|them) with ' "$out" || true)
if [ "$status" -ne 0 ] || [ "$skips" -eq 0 ] || grep -qE 'ENOENT|EACCES' "$out"; then
  cat "$out"
  echo "fresh machine: tap exited $status with $skips tool skips" >&2
  exit 1
fi
grep -oE '# SKIP needs .*' "$out" | sort | uniq -c
echo "fresh machine: $(grep -E '^# \{ total: ' "$out" | tail -n 1)"
# and in CI a missing tool fails the test instead of skipping it
if env CI=true PATH="$bin" CREDBROKER_TOOLS_BIN= node_modules/.bin/tap --disable-coverage --reporter=tap test/e2e/registry-test.test.ts >"$out" 2>&1 \
  || ! grep -qE '^ +not ok .*needs docker-registry' "$out"; then
  cat "$out"
  echo 'fresh machine: with CI=true a missing tool did not fail the test' >&2
  exit 1
fi
echo 'fresh machine: with CI=true the same missing tools fail'
