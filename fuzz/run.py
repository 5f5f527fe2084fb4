"""Run the fuzz targets, each for a given time, over its committed corpus.

Usage::

    python fuzz/run.py                      # every target, 30 s each
    python fuzz/run.py --seconds 300 xff    # one target, longer
    python fuzz/run.py --grow --seconds 60  # also save new inputs into fuzz/corpus/

Each target reads ``fuzz/corpus/<target>/``. Without ``--grow`` new inputs go to
a temporary directory, so a CI run leaves the tree clean. A crash is saved as
``fuzz/artifacts/<target>-crash-<sha1>`` and makes the exit status 1; replay it
with ``python fuzz/fuzz.py <target> <that file>``, then add it to
``tests/test_fuzz_regressions.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import targets  # noqa: E402  (needs the path above)

#: libFuzzer options for every run: inputs up to 4 KiB (64 KiB for the loaders),
#: a hung input after 10 s, and a memory ceiling well above normal use.
COMMON = ["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"]
MAX_LEN = {"yaml": 65536, "directives": 65536, "express": 65536, "files": 65536}


def run_target(name: str, seconds: int, *, grow: bool) -> int:
    """Fuzz *name* for *seconds*; return libFuzzer's exit status (0: no finding)."""
    corpus = HERE / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = HERE / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as scratch:
        dirs = [str(corpus)] if grow else [scratch, str(corpus)]
        argv = [sys.executable, str(HERE / "fuzz.py"), name, *dirs, *COMMON,
                f"-max_total_time={seconds}", f"-max_len={MAX_LEN.get(name, 4096)}",
                f"-artifact_prefix={artifacts}/{name}-"]
        print(f"== {name}: {' '.join(argv[1:])}", flush=True)
        started = time.monotonic()
        # libFuzzer stops itself at -max_total_time; the margin covers loading the corpus.
        result = subprocess.run(argv, check=False, timeout=seconds + 120)
        print(f"== {name}: exit {result.returncode} after {time.monotonic() - started:.0f} s",
              flush=True)
        return result.returncode


def add_targets_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    """The positional TARGET names (for this script and ``replay.py``)."""
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"targets to {verb} (default: all of {', '.join(targets.TARGETS)})")


def chosen_targets(parser: argparse.ArgumentParser, names: Sequence[str]) -> list[str]:
    """The targets *names* asks for (all when empty); an unknown one is a usage error."""
    unknown = [t for t in names if t not in targets.TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; "
                     f"known: {', '.join(targets.TARGETS)}")
    return list(names) or list(targets.TARGETS)


def report(tool: str, failed: Sequence[str], where: object) -> int:
    """Print the closing line of *tool* (this script or ``replay.py``): the
    targets with findings, saved in *where*, or none; return the exit status."""
    if failed:
        print(f"{tool}: findings in {', '.join(failed)} (see {where})", file=sys.stderr)
        return 1
    print(f"{tool}: no findings")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_targets_argument(parser, "run")
    parser.add_argument("--seconds", type=int, default=30, help="time per target (default 30)")
    parser.add_argument("--grow", action="store_true",
                        help="save new inputs into the committed corpus")
    args = parser.parse_args(argv)
    failed = [name for name in chosen_targets(parser, args.targets)
              if run_target(name, args.seconds, grow=args.grow) != 0]
    return report("fuzz", failed, "fuzz/artifacts/")


if __name__ == "__main__":
    raise SystemExit(main())
