"""``fuzz/replay.py``: the corpora (and seeded mutants) through the fuzz targets
without atheris, as ``.ci/sanitize.sh`` runs them under AddressSanitizer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"


@pytest.fixture(scope="module")
def replay() -> ModuleType:
    """``fuzz/replay.py``, loaded from its file (``fuzz/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("fuzz_replay", FUZZ_DIR / "replay.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved  # it puts fuzz/ and the repository first, for itself
    return module


def test_inputs_are_the_corpus_then_mutants_the_same_for_a_seed(replay: ModuleType) -> None:
    corpus = replay.corpus("speedups")  # the corpus the sdist carries too
    assert corpus, "the committed speedups corpus"
    first = replay.inputs("speedups", 200, seed=0)
    assert first[:len(corpus)] == corpus
    assert len(first) == len(corpus) + 200
    assert replay.inputs("speedups", 200, seed=0) == first
    other = replay.inputs("speedups", 200, seed=1)
    assert other[len(corpus):] != first[len(corpus):]
    mutants = first[len(corpus):]
    assert all(len(m) <= replay.MAX_LEN for m in mutants)
    assert sum(m not in corpus for m in mutants) > 150  # edited, not copies


def test_mutants_of_an_empty_corpus(replay: ModuleType, tmp_path: Path) -> None:
    assert replay.corpus("xff", root=tmp_path) == []
    assert replay.corpus("no-such-target") == []
    data = replay.inputs("no-such-target", 50, seed=0)
    assert len(data) == 50
    assert all(isinstance(d, bytes) for d in data)


def test_a_raising_input_is_saved_and_replay_stops(replay: ModuleType, tmp_path: Path) -> None:
    seen: list[bytes] = []

    def target(data: bytes) -> None:
        seen.append(data)
        if b"bad" in data:
            raise AssertionError("invariant broken")

    found = replay.replay("t", target, [b"ok", b"a bad one", b"never sent"], tmp_path)
    assert found is not None
    assert found.parent == tmp_path
    assert found.name.startswith("t-replay-")
    assert found.read_bytes() == b"a bad one"
    assert seen == [b"ok", b"a bad one"]
    assert replay.replay("t", target, [b"ok", b"fine"], tmp_path / "none") is None
    assert not (tmp_path / "none").exists()


def test_main_runs_real_targets_and_rejects_bad_arguments(
        replay: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--mutants", "30", "xff", "forwarded"]) == 0
    out = capsys.readouterr().out
    assert "== xff:" in out
    assert "== forwarded:" in out
    assert "replay: no findings" in out
    with pytest.raises(SystemExit) as exit_info:
        replay.main(["no-such-target"])
    assert exit_info.value.code == 2
    assert "unknown target(s) no-such-target" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        replay.main(["--mutants", "-1", "xff"])


def test_main_reports_a_finding(replay: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(data: bytes) -> None:
        raise ValueError("escaped")

    monkeypatch.setitem(replay.targets.TARGETS, "xff", broken)
    argv = ["--artifacts", str(tmp_path), "--mutants", "1", "xff", "forwarded"]
    assert replay.main(argv) == 1
    saved = list(tmp_path.iterdir())
    assert len(saved) == 1
    assert saved[0].name.startswith("xff-replay-")
    assert saved[0].read_bytes() == replay.inputs("xff", 1, seed=0)[0]  # the first one raised
    captured = capsys.readouterr()
    assert "ValueError: escaped" in captured.err
    assert "findings in xff " in captured.err
    assert "== forwarded: " in captured.out
