"""Replay the fuzz corpora through the targets, in this process, without atheris.

Usage::

    python fuzz/replay.py                         # every target, its corpus only
    python fuzz/replay.py --mutants 2000 asgi     # and 2,000 seeded mutants of it

For runs libFuzzer cannot do: above all the C speedups built with gcc's
AddressSanitizer and UBSan (``.ci/sanitize.sh``), whose runtime does not mix
with atheris' clang one. Every input of ``fuzz/corpus/<target>/`` goes through
the target, then, with ``--mutants N``, N inputs made from them by a few
random edits each (byte changes, insertions, deletions, pieces of other
inputs). The edits come from ``random.Random`` seeded with ``--seed`` and the
target's name, so a run is the same every time.

An input that makes the target raise is saved as
``fuzz/artifacts/<target>-replay-<sha1>`` (or in ``--artifacts DIR``), and the
exit status is 1; replay it with ``python fuzz/fuzz.py <target> <that file>``,
or by hand through ``targets.TARGETS[target]``. A sanitizer's finding stops
the process itself, with its report on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import targets  # noqa: E402  (needs the path above)
from run import add_targets_argument, chosen_targets, report  # noqa: E402

#: The longest input a mutant may grow to: libFuzzer's -max_len in run.py.
MAX_LEN = 4096


def corpus(name: str, root: Path = HERE / "corpus") -> list[bytes]:
    """The committed inputs of target *name*, in file-name order."""
    folder = root / name
    if not folder.is_dir():
        return []
    return [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()]


def mutate(data: bytes, pool: Sequence[bytes], rng: random.Random) -> bytes:
    """*data* after one to eight random edits, some of them splicing in a
    piece of another input from *pool*."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        edit = rng.randrange(4)
        if edit == 0 and out:  # change one byte
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif edit == 1:  # insert a few random bytes
            at = rng.randint(0, len(out))
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif edit == 2 and out:  # delete a few bytes
            at = rng.randrange(len(out))
            del out[at:at + rng.randint(1, 8)]
        else:  # insert a piece of another input
            other = rng.choice(pool) if pool else b""
            start = rng.randint(0, len(other))
            at = rng.randint(0, len(out))
            out[at:at] = other[start:start + rng.randint(1, 64)]
    return bytes(out[:MAX_LEN])


def inputs(name: str, mutants: int, seed: int) -> list[bytes]:
    """What a replay of target *name* sends: its corpus, then *mutants*
    mutants of it (of an empty input when the corpus is empty)."""
    pool = corpus(name)
    rng = random.Random(f"{seed}:{name}")
    starts = pool or [b""]
    return pool + [mutate(rng.choice(starts), pool, rng) for _ in range(mutants)]


def replay(name: str, target: Callable[[bytes], None], data: Sequence[bytes],
           artifacts: Path = HERE / "artifacts") -> Path | None:
    """Send every input of *data* to *target*; at the first one that raises,
    save it under *artifacts* and return its path (None: none raised)."""
    for item in data:
        try:
            target(item)
        except Exception:  # any escape is a finding, as under atheris
            traceback.print_exc()
            artifacts.mkdir(exist_ok=True)
            path = artifacts / f"{name}-replay-{hashlib.sha1(item).hexdigest()}"
            path.write_bytes(item)
            return path
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_targets_argument(parser, "replay")
    parser.add_argument("--mutants", type=int, default=0,
                        help="seeded mutants per target after its corpus (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="the mutants' seed (default 0)")
    parser.add_argument("--artifacts", type=Path, default=HERE / "artifacts",
                        help="where a finding is saved (default fuzz/artifacts)")
    args = parser.parse_args(argv)
    names = chosen_targets(parser, args.targets)
    if args.mutants < 0:
        parser.error(f"--mutants must be 0 or more, not {args.mutants}")
    failed = []
    for name in names:
        data = inputs(name, args.mutants, args.seed)
        found = replay(name, targets.TARGETS[name], data, args.artifacts)
        print(f"== {name}: {len(data)} inputs, "
              + (f"finding saved as {found}" if found else "no finding"), flush=True)
        if found:
            failed.append(name)
    return report("replay", failed, args.artifacts)


if __name__ == "__main__":
    raise SystemExit(main())
