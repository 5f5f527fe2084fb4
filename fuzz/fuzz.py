"""Run one fuzz target under atheris: ``python fuzz/fuzz.py TARGET [libFuzzer args]``.

``fuzz/run.py`` is the usual way in (it picks the corpus and time limit); this
script is what it starts. trustedproxy (and PyYAML, for the ``yaml`` target) is
imported with atheris' coverage instrumentation.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

with atheris.instrument_imports(include=["trustedproxy", "yaml"]):
    import targets

    # Modules the library imports lazily: import them now, instrumented.
    for _module in ("trustedproxy.loaders.yaml", "trustedproxy.loaders.directives",
                    "trustedproxy.forwarded"):
        if targets.module_exists(_module):
            importlib.import_module(_module)


def main() -> None:
    """Fuzz the target named by ``sys.argv[1]``; the other arguments go to libFuzzer."""
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: fuzz.py TARGET [libFuzzer args]; targets: {', '.join(targets.TARGETS)}")
    target = targets.TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
