#!/usr/bin/env bash
# Build trustedproxy._speedups in a throwaway copy of the tree, for the CI steps
# that test other builds of it (.ci/run's portable build, .ci/sanitize.sh), so
# the in-place build is left as it was: copies the tree into DIR (without a
# compiled module or caches), then builds the extension in place there with the
# environment's CFLAGS and LDFLAGS. The compiler's output is DIR/build.log,
# printed when the build fails.
#
# Usage: .ci/build-copy.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$1"
# Venvs of Python 3.12 and later come without setuptools, which builds the copy.
python -c 'import setuptools' 2>/dev/null || python -m pip install -q setuptools
cp -r setup.py pyproject.toml README.md LICENSE trustedproxy tests fuzz "$dir"
find "$dir" \( -name '_speedups*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
cd "$dir"
python setup.py build_ext --inplace >build.log 2>&1 || { cat build.log; exit 1; }
