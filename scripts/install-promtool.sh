#!/usr/bin/env bash
# Puts promtool at .tools/bin/promtool (git-ignored) for the metrics lint test.
# Debian's prometheus package is 470 MB installed; only its promtool is needed, so the
# .deb is downloaded (about 19 MB) and promtool alone is extracted, nothing is installed.
# Idempotent: a working binary is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/.tools/bin"
promtool="$bin_dir/promtool"

if [[ -x "$promtool" ]] && "$promtool" --version >/dev/null 2>&1; then
  echo "promtool already installed at $promtool: $("$promtool" --version 2>&1 | head -n 1)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
trap 'echo "install-promtool: failed at line $LINENO" >&2' ERR
mkdir -p "$bin_dir"

cd "$work"
echo "downloading Debian's prometheus package (about 19 MB) for promtool ..."
if ! apt-get download prometheus >/dev/null 2>&1; then
  # a fresh machine has no package lists yet
  apt-get update -qq >/dev/null
  apt-get download prometheus >/dev/null
fi
deb="$(ls prometheus_*.deb | head -n 1)"
dpkg-deb --fsys-tarfile "$deb" | tar -x ./usr/bin/promtool

install -m 0755 "$work/usr/bin/promtool" "$promtool"
echo "promtool installed at $promtool: $("$promtool" --version 2>&1 | head -n 1)"
