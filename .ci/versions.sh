#!/usr/bin/env bash
# The unit suites on every other supported CPython (requires-python >= 3.11;
# the rest of .ci/run tests the machine's python3, 3.11), compiled and pure.
#
# For each minor version asked for (default: 3.12 3.13), the newest patch found
# among /root/.pyenv/versions/X.Y.*/bin/python3 and pythonX.Y on PATH (a pyenv
# shim that cannot run it does not count) gets a fresh virtualenv and its own
# copy of the tree (the in-place build in the checkout is left alone), installed
# editable with the test extra and TRUSTEDPROXY_REQUIRE_SPEEDUPS=1. Then:
#   - the C speedups compiled against that version's headers (its include dir
#     on gcc's command line) without a single compiler warning,
#   - the module in use is the one just built in the copy, with that version's
#     EXT_SUFFIX, and trustedproxy.wsgi.SPEEDUPS is true,
#   - the unit suites pass on the compiled path, then with
#     TRUSTEDPROXY_PURE_PYTHON=1 on the pure-Python path.
# A version not found is reported in one line and skipped, unless
# TRUSTEDPROXY_REQUIRE_VERSIONS=1 makes that a failure. A version found but
# unusable (no venv module, no headers) is a failure.
#
# Usage: .ci/versions.sh [X.Y ...]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset PYTHONPATH PYTHONHOME TRUSTEDPROXY_PURE_PYTHON
[ $# -gt 0 ] || set -- 3.12 3.13
require="${TRUSTEDPROXY_REQUIRE_VERSIONS:-}"
require="${require// /}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The newest X.Y.Z interpreter of minor version $1, as "X.Y.Z PATH"; empty if none runs.
find_python() {
    local minor="$1" best="" bestver="" candidate version
    for candidate in /root/.pyenv/versions/"$minor".*/bin/python3 \
                     "$(command -v "python$minor" || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        version=$("$candidate" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' \
                  2>/dev/null) || continue
        [[ "$version" == "$minor".* ]] || continue
        if [ -z "$best" ] || [ "$(printf '%s\n' "$bestver" "$version" | sort -V | tail -n 1)" != "$bestver" ]; then
            best="$candidate" bestver="$version"
        fi
    done
    [ -z "$best" ] || printf '%s %s\n' "$bestver" "$best"
}

# Copy the tree to $1 as a clean clone has it: no .git, virtualenv, build
# output, compiled module or caches (.gitignore's list).
copy_tree() {
    tar -C "$repo" -c --exclude=./.git --exclude=./.venv --exclude=__pycache__ \
        --exclude='*.egg-info' --exclude=.pytest_cache --exclude=.mypy_cache \
        --exclude=.ruff_cache --exclude=.hypothesis --exclude=./dist --exclude=./build \
        --exclude='*.pyc' --exclude='*.so' . | tar -C "$1" -x
}

unit_suites() {
    # -rfE: of the skips and xfails, -ra would list hundreds on the pure path.
    python -m pytest -q -rfE -p no:cacheprovider tests --ignore=tests/differential --ignore=tests/e2e
}

# Install, check and test one interpreter ($1 version, $2 path), in a subshell
# of its own (its virtualenv on PATH) that stops at the first failure. (Called
# with errexit off: in an `if` or `||` bash would ignore set -e inside it.)
test_version() (
    set -e
    local version="$1" python="$2" dir="$work/$1"
    mkdir -p "$dir/src"
    "$python" -m venv "$dir/venv"
    export VIRTUAL_ENV="$dir/venv" PATH="$dir/venv/bin:$PATH"
    copy_tree "$dir/src"
    cd "$dir/src"
    # -v: the compiler's command line and warnings go to the log.
    TRUSTEDPROXY_REQUIRE_SPEEDUPS=1 python -m pip install -v -e '.[test]' >install.log 2>&1 \
        || { tail -n 60 install.log; echo "versions: $version: install failed" >&2; return 1; }
    include=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    grep -qF -- "-I$include" install.log \
        || { grep -E 'gcc|cc ' install.log | tail -n 5
             echo "versions: $version: the C speedups were not compiled with -I$include" >&2
             return 1; }
    if grep -E '_speedups\.c(:[0-9]+)+: warning:' install.log; then
        echo "versions: $version: the C speedups compile with warnings (above)" >&2
        return 1
    fi
    python -c 'import os, sys, sysconfig, trustedproxy._speedups as s, trustedproxy.wsgi as w
expected = os.path.join(os.getcwd(), "trustedproxy",
                        "_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
assert s.__file__ == expected, (s.__file__, expected)
assert w.SPEEDUPS is True, w.SPEEDUPS
print(f"versions: {sys.version.split()[0]}: compiled without warnings, using {s.__file__}")'
    unit_suites
    TRUSTEDPROXY_PURE_PYTHON=1 unit_suites
)

status=0
for minor in "$@"; do
    found=$(find_python "$minor")
    if [ -z "$found" ]; then
        if [ -n "$require" ] && [ "$require" != 0 ]; then
            echo "versions: CPython $minor not found, and TRUSTEDPROXY_REQUIRE_VERSIONS is set: failing" >&2
            status=1
        else
            echo "versions: CPython $minor not found (/root/.pyenv/versions/$minor.*, python$minor on PATH): skipped"
        fi
        continue
    fi
    read -r version python <<<"$found"
    echo "versions: CPython $version ($python)"
    began=$(date +%s)
    set +e
    test_version "$version" "$python"
    passed=$?
    set -e
    if [ "$passed" = 0 ]; then
        echo "versions: CPython $version passed in $(( $(date +%s) - began ))s"
    else
        echo "versions: CPython $version FAILED after $(( $(date +%s) - began ))s" >&2
        status=1
    fi
    rm -rf "${work:?}/$version"
done
exit "$status"
