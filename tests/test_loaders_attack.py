"""Attacks on the configuration loaders: form detection, ``format=`` and the
extensions, the ``files`` fuzz target, and the command line's output paths.

Found in the session-12 review of the loaders (each bug's test failed on main
before its fix; the commit that fixed it says which).
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_roundtrip import policies, unix_socket_only

from trustedproxy import ConfigError, TrustPolicy
from trustedproxy.loaders.files import FORMATS, detect_format, load_file

REPO = Path(__file__).resolve().parents[1]
FUZZ_DIR = REPO / "fuzz"


def _load_module(name: str) -> ModuleType:
    """A module of ``fuzz/`` (not a package), imported with ``fuzz/`` on the path."""
    saved = list(sys.path)
    sys.path[:0] = [str(FUZZ_DIR), str(REPO)]
    try:
        __import__(name)
        return sys.modules[name]
    finally:
        sys.path[:] = saved


# --------------------------------------------------------------------------- the fuzz target


def test_the_files_target_is_wired_like_the_others() -> None:
    """``files`` is a target of ``fuzz/run.py`` and ``fuzz/replay.py`` (both
    take every name in ``targets.TARGETS``, so ``.ci/run`` and
    ``.ci/sanitize.sh`` run it), reads 64 KiB inputs like the other loaders,
    and its committed corpus goes through it clean."""
    targets = _load_module("targets")
    run = _load_module("run")
    assert "files" in targets.TARGETS
    assert run.MAX_LEN["files"] == run.MAX_LEN["yaml"]
    corpus = sorted((FUZZ_DIR / "corpus" / "files").iterdir())
    assert {p.name for p in corpus} >= {"seed-yaml-no-name", "seed-directives-no-name",
                                        "seed-express-no-name", "seed-yaml-as-conf"}
    for path in corpus:
        targets.TARGETS["files"](path.read_bytes())
    assert targets.files_input(b"\x0dabc") == ("x.yaml", "express", b"abc")
    assert targets.files_input(b"") == ("policy", None, b"")


# --------------------------------------------------------------------------- properties

_NAMES = {"yaml": ("p.yaml", "policy"), "directives": ("p.conf", "policy"),
          "express": ("p.args", "policy")}

comments = st.sampled_from([
    "# a comment", "#", "# WSGITrustedProxies 6.6.6.6", "# --trust-proxy 6.6.6.6",
    "# <VirtualHost *:80>", "  # indented: trusted_proxies: [6.6.6.6]", "",
    "   ", "\t",
])


def _written(policy: TrustPolicy, form: str) -> str | None:
    """*policy* written in *form*, or ``None`` when that form cannot carry it."""
    try:
        if form == "yaml":
            return policy.to_yaml()
        if form == "directives":
            return policy.to_directives()
        return shlex.join(policy.to_express_args()) + "\n"
    except ConfigError:
        return None


def _with_lines(text: str, extra: list[tuple[int, str]]) -> str:
    """*text* with each ``(position, line)`` of *extra* inserted between its
    lines (never after a line that a ``\\`` continues)."""
    lines = text.splitlines()
    for position, line in extra:
        at = position % (len(lines) + 1)
        if at and lines[at - 1].endswith("\\"):
            continue
        lines.insert(at, line)
    return "\n".join(lines) + "\n"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(policies(custom=False), st.sampled_from(FORMATS),
       st.lists(st.tuples(st.integers(0, 50), comments), max_size=6))
def test_detection_is_stable_under_comments_and_blank_lines(
        policy: TrustPolicy, form: str, extra: list[tuple[int, str]]) -> None:
    """For every policy written in a form that can carry it, and a file name
    with no extension: adding comment lines (markers of other forms in them
    included) and blank lines does not change the form detect_format tells."""
    text = _written(policy, form)
    assume(text is not None and text.strip())
    assert text is not None
    before = detect_format("policy", text)
    assert detect_format("policy", _with_lines(text, extra)) == before


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(policies(custom=False), st.sampled_from(FORMATS))
def test_each_written_form_loads_back_by_extension_and_by_content(
        policy: TrustPolicy, form: str) -> None:
    """For every policy p and form f that can carry it (to_yaml,
    to_directives, to_express_args): the text written to a file with f's
    usual extension, and to one with no extension, loads back equal to p
    with no format given (and with format=f)."""
    text = _written(policy, form)
    assume(text is not None)
    assert text is not None
    if form != "yaml":
        assume(not unix_socket_only(policy))
    with tempfile.TemporaryDirectory() as directory:
        for name in _NAMES[form]:
            if name == "policy" and not text.strip():
                continue  # an empty file with no extension is empty YAML: refused (reported)
            path = os.path.join(directory, name)
            Path(path).write_text(text, encoding="utf-8")
            assert load_file(path) == policy, (name, text)
            assert load_file(path, format=form) == policy, (name, text)


markers = st.sampled_from([
    "--trust-proxy 6.6.6.6", "--trust-proxy=6.6.6.6", "WSGITrustedProxies 6.6.6.6",
    "WSGITrustedProxyHeaders X-Real-IP", "<VirtualHost *:80>", "<Location /x>",
    "# trustedproxy: script_name /evil",
])


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(policies(custom=False), st.lists(markers, min_size=1, max_size=4), st.data())
def test_yaml_with_other_forms_markers_in_strings_and_comments_is_yaml(
        policy: TrustPolicy, found: list[str], data: st.DataObject) -> None:
    """For every YAML policy file holding express or directive markers in its
    comments, in a quoted multi-line string (a line that starts with the
    marker) or in a plain one: detect_format says YAML for a name with no
    extension, and load_file reads the same as from_yaml (both load equal, or
    both fail)."""
    lines = policy.to_yaml().splitlines()
    for marker in found:
        where = data.draw(st.sampled_from(["comment", "quoted", "plain"]))
        if where == "comment":
            lines.insert(data.draw(st.integers(0, len(lines))), f"# {marker}")
        elif where == "quoted":
            lines += [f"x_note_{len(lines)}: '", f"  {marker}'"]
        else:
            lines.append(f"x_note_{len(lines)}: {marker!r}")
    text = "\n".join(lines) + "\n"
    assert detect_format("policy", text) == "yaml"
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "policy")
        Path(path).write_text(text, encoding="utf-8")
        try:
            expected: object = TrustPolicy.from_yaml(text)
        except ConfigError as exc:
            expected = [p.message for p in exc.problems]
        try:
            got: object = load_file(path)
        except ConfigError as exc:  # the same problems, then how the form was told
            got = [p.message for p in exc.problems][:len(expected)]  # type: ignore[arg-type]
        assert got == expected


# --------------------------------------------------------------------------- bounded cost

#: A 1 MB file costs at most this many times the same shape at 64 KB: a cost
#: linear in the size makes it about 16, a quadratic one about 256.
MAX_GROWTH = 40.0
MB = 1 << 20


def _cost(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _refused_or_loaded(path: str) -> Callable[[], object]:
    def call() -> object:
        try:
            return load_file(path)
        except ConfigError as exc:
            return [p.message for p in exc.problems]
    return call


@pytest.mark.parametrize(("shape", "make"), [
    ("single-line", lambda n: "x" * n),
    ("nested-yaml", lambda n: "trusted_proxies: " + "[" * (n // 2) + "]" * (n // 2)),
])
@pytest.mark.parametrize("name", ["policy", "x.yaml", "x.conf", "x.args"])
def test_a_huge_file_is_refused_or_loaded_in_bounded_time(
        tmp_path: Path, name: str, shape: str, make: Callable[[int], str]) -> None:
    """A 1 MB single-line file, or YAML nested 512 Ki deep, under each name:
    ConfigError or a policy, never another exception, and it costs about what
    16 files of 64 KB of the same shape cost (growth measured, as in
    test_limits.py, never an absolute time; the best of up to three tries)."""
    small, huge = tmp_path / f"small-{name}", tmp_path / name
    small.write_text(make(MB // 16), encoding="utf-8")
    huge.write_text(make(MB), encoding="utf-8")
    growth = float("inf")
    for _ in range(3):
        growth = min(growth, _cost(_refused_or_loaded(str(huge)))
                     / _cost(_refused_or_loaded(str(small))))
        if growth <= MAX_GROWTH:
            break
    assert growth <= MAX_GROWTH, f"{name} {shape}: 1 MB costs {growth:.0f}x 64 KB"
