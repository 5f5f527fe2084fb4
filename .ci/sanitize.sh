#!/usr/bin/env bash
# The C speedups under gcc's AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Builds trustedproxy._speedups with -fsanitize=address,undefined in a throwaway
# copy of the tree (.ci/build-copy.sh; the in-place build is left alone), then
# runs, with the sanitizer runtimes preloaded into the Python running them, the
# suites that drive the compiled path, and every fuzz target's corpus plus
# seeded mutants of it (fuzz/replay.py: atheris' clang runtime does not mix
# with gcc's).
# PYTHONMALLOC=malloc puts every Python object on the C heap, so a read past a
# str's end or a use after an extra Py_DECREF is caught, not hidden in a pool.
# Leak detection is off: CPython keeps much of its memory until exit.
#
# Usage: .ci/sanitize.sh [MUTANTS]   (seeded mutants per fuzz target; default 3000)
# Needs gcc with libasan and libubsan (Debian: gcc, which pulls them in), the
# Python headers, and the test and fuzz extras' packages in the running Python.
set -euo pipefail
cd "$(dirname "$0")/.."
mutants="${1:-3000}"
python=$(command -v python)

libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
for lib in "$libasan" "$libubsan"; do
    # gcc prints the bare name back when it has no such library.
    [ -e "$lib" ] || { echo "sanitize: $lib not found (install gcc's libasan/libubsan)" >&2; exit 1; }
done

copy=$(mktemp -d)
repo=$(pwd)
# A finding fuzz/replay.py saves in the copy is kept in the repository's fuzz/artifacts/.
trap 'if [ -d "$copy/fuzz/artifacts" ]; then mkdir -p "$repo/fuzz/artifacts";
      cp "$copy"/fuzz/artifacts/* "$repo/fuzz/artifacts/" 2>/dev/null || true; fi
      rm -rf "$copy"' EXIT
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" bash .ci/build-copy.sh "$copy"
cd "$copy"
# The extension really is instrumented: it calls ASan's and UBSan's runtimes.
so=$(ls trustedproxy/_speedups*.so)
symbols=$(nm -D --undefined-only "$so")  # (not piped into grep -q: pipefail and SIGPIPE)
for runtime in __asan_report __ubsan_handle; do
    grep -q "$runtime" <<<"$symbols" \
        || { echo "sanitize: $so does not call $runtime*: not instrumented" >&2; exit 1; }
done

export LD_PRELOAD="$libasan $libubsan" PYTHONMALLOC=malloc
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$python" -c 'import os, trustedproxy.wsgi as w
assert w.SPEEDUPS and w.__file__.startswith(os.getcwd()), w.__file__'

# The suites that send requests through the compiled path. The tests that
# start real servers (uvicorn) are left out: the servers are other processes,
# and the preloaded runtime is not theirs to load. --capture=sys leaves file
# descriptor 2 alone, so a sanitizer's report reaches the log.
"$python" -m pytest -q -p no:cacheprovider --capture=sys \
    tests/test_speedups.py tests/test_speedups_matcher.py tests/test_wsgi.py \
    tests/test_cache.py tests/test_asgi.py tests/test_asgi_properties.py \
    tests/test_concurrency.py tests/test_smuggling.py tests/test_properties.py \
    tests/test_fuzz_regressions.py tests/test_addresses.py \
    -k 'not test_uvicorn'
"$python" fuzz/replay.py --mutants "$mutants"
