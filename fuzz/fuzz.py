#!/usr/bin/env python3
"""Run one fuzz target under atheris: ``python fuzz/fuzz.py TARGET [libFuzzer args]``.

``fuzz/run.py`` is the usual way in (it picks the corpus and time limit); this
script is what it starts. trustedproxy (and PyYAML, for the ``yaml`` target) is
imported with atheris' coverage instrumentation.

libFuzzer's ``-merge=1`` and ``-fork=N`` modes run this file again without the
target name: it is passed on in the ``TRUSTEDPROXY_FUZZ_TARGET`` variable
(which also works instead of the first argument).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
TARGET_VARIABLE = "TRUSTEDPROXY_FUZZ_TARGET"
sys.path[:0] = [str(HERE), str(HERE.parent)]

with atheris.instrument_imports(include=["trustedproxy", "yaml"]):
    import targets

    # Modules the library imports lazily: import them now, instrumented.
    for _module in ("trustedproxy.loaders.yaml", "trustedproxy.loaders.directives",
                    "trustedproxy.loaders.express", "trustedproxy.loaders.files",
                    "trustedproxy.forwarded", "trustedproxy.asgi"):
        if targets.module_exists(_module):
            importlib.import_module(_module)


def main() -> None:
    """Fuzz the target named by ``sys.argv[1]`` (or ``$TRUSTEDPROXY_FUZZ_TARGET``);
    the other arguments go to libFuzzer."""
    args = sys.argv[1:]
    if args and args[0] in targets.TARGETS:
        os.environ[TARGET_VARIABLE] = args.pop(0)  # inherited by merge/fork children
    name = os.environ.get(TARGET_VARIABLE, "")
    if name not in targets.TARGETS:
        sys.exit(f"usage: fuzz.py TARGET [libFuzzer args]; targets: {', '.join(targets.TARGETS)}")
    atheris.Setup([sys.argv[0], *args], targets.TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
