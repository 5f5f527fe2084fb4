"""Attacks on the configuration loaders: form detection, ``format=`` and the
extensions, the ``files`` fuzz target, and the command line's output paths.

Found in the session-12 review of the loaders (each bug's test failed on main
before its fix; the commit that fixed it says which).
"""

from __future__ import annotations

import copy
import os
import pickle
import shlex
import subprocess
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


# --------------------------------------------------------------------------- review findings


@pytest.mark.parametrize(("name", "text"), [
    ("vhost.conf", "# old note\rWSGITrustedProxies 6.6.6.6\nWSGITrustedProxies 10.0.0.1\n"
                   "WSGITrustedProxyHeaders X-Forwarded-For\n"),
    ("cmd.args", "--trust-proxy 10.0.0.1 --trust-proxy-header X-Forwarded-For "
                 "# note\r--trust-proxy 6.6.6.6\n"),
])
def test_a_lone_carriage_return_is_not_a_line_break_in_a_file(
        tmp_path: Path, name: str, text: str) -> None:
    """Apache (``apache2 -t``) and a shell end a line at LF only: a lone CR
    inside a comment keeps what follows in the comment. A file loads as the
    same text given as a string does (it was read with universal newlines, so
    the file trusted 6.6.6.6 where Apache and the text loader did not)."""
    path = tmp_path / name
    path.write_bytes(text.encode())
    loaded = TrustPolicy.from_file(str(path))
    assert "6.6.6.6" not in loaded.trusted_proxies
    assert loaded == TrustPolicy(trusted_proxies=["10.0.0.1"],
                                 trusted_headers=["X-Forwarded-For"])


def test_crlf_files_still_load(tmp_path: Path) -> None:
    """Windows line ends (CRLF) load in every form, as before."""
    for name, text in (("a.yaml", "trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Real-IP]\n"),
                       ("a.conf", "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders "
                                  "X-Real-IP\n"),
                       ("a.args", "--trust-proxy 10.0.0.1 \\\n--trust-proxy-header X-Real-IP\n")):
        path = tmp_path / name
        path.write_bytes(text.replace("\n", "\r\n").encode())
        assert TrustPolicy.from_file(str(path)) == TrustPolicy(
            trusted_proxies=["10.0.0.1"], trusted_headers=["X-Real-IP"]), name


@pytest.mark.parametrize("argument", ['"! mod_wsgi.c"', "'! mod_wsgi.c'", '"!mod_wsgi.c>"',
                                      '"!mod_ssl.c"', '"!"mod_wsgi.c', "'!' mod_wsgi.c"])
def test_a_quoted_word_starting_with_bang_names_no_module(argument: str) -> None:
    """``apache2 -t`` with mod_wsgi loaded: a quoted first word that starts
    with ``!`` is not a negation but a module name starting with ``!``, which
    no module has, so Apache never reads the block (tests/differential/
    test_ifmodule.py checks each case): its trust line is skipped with a
    warning. ``'"! mod_wsgi.c"'`` and ``'"!mod_ssl.c"'`` were read."""
    policy = TrustPolicy.from_directives(
        "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
        f"<IfModule {argument}>\nWSGITrustedProxies 10.0.0.9\n</IfModule>\n")
    assert policy.trusted_proxies == ("10.0.0.1",)
    assert any("not read" in w.message for w in policy.warnings())


@pytest.mark.parametrize("argument", ["", "!", '""', '!""'])
def test_an_ifmodule_without_a_module_name_is_an_error(argument: str) -> None:
    """Apache refuses to start on ``<IfModule>`` with no module name
    (``apache2 -t``: 'directive requires additional arguments')."""
    with pytest.raises(ConfigError, match=r"<directives>:3: <IfModule> needs a module name"):
        TrustPolicy.from_directives(
            "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
            f"<IfModule {argument}>\nWSGITrustedProxies 10.0.0.9\n</IfModule>\n")


def _cli(args: list[str], *, stdout_closed: bool = False, stderr_closed: bool = False,
         stdout: int | None = None, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> tuple[int, bytes, bytes]:
    """Run ``python -m trustedproxy`` with a pipe whose reader is gone as
    stdout or stderr (or a closed descriptor, *stdout* = -1)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if stdout_closed:
        os.close(out_r)
    if stderr_closed:
        os.close(err_r)
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    close_fds = stdout == -1
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "trustedproxy", *args], stdout=out_w, stderr=err_w,
            env=environ, cwd=cwd,
            preexec_fn=(lambda: os.close(1)) if close_fds else None)
        os.close(out_w)
        os.close(err_w)
        code = process.wait(timeout=60)
        out = b"" if stdout_closed else os.read(out_r, 1 << 20)
        err = b"" if stderr_closed else os.read(err_r, 1 << 20)
    finally:
        for fd in ((out_r,) if not stdout_closed else ()) + ((err_r,) if not stderr_closed
                                                               else ()):
            os.close(fd)
    return code, out, err


def test_a_closed_stderr_keeps_the_error_status(tmp_path: Path) -> None:
    """An error message that cannot be written (stderr's reader gone) leaves
    the exit status 2, and stdout as it was: it was 141, the status of a
    closed stdout."""
    (tmp_path / "p.yaml").write_text("trusted_proxies: [10.0.0.1]\n")
    code, out, _ = _cli(["explain", "p.yaml", "--peer", "10.0.0.1", "-H", "bad"],
                        stderr_closed=True, cwd=tmp_path)
    assert (code, out) == (2, b"")
    code, out, _ = _cli(["convert", "p.yaml", "--to", "yaml"], stderr_closed=True, cwd=tmp_path)
    assert code == 0
    assert b"10.0.0.1" in out


def test_a_closed_stdout_descriptor_is_a_closed_stdout(tmp_path: Path) -> None:
    """``trustedproxy convert ... >&-`` (no stdout at all: sys.stdout is None)
    ends with status 141, as a stdout closed by its reader does; it was an
    AttributeError traceback."""
    (tmp_path / "p.yaml").write_text("trusted_proxies: [10.0.0.1]\n")
    for args in (["convert", "p.yaml", "--to", "directives"],
                 ["explain", "p.yaml", "--peer", "10.0.0.1"]):
        code, _, err = _cli(args, stdout=-1, cwd=tmp_path)
        assert (code, err) == (141, b""), args


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_convert_writes_utf8_whatever_the_terminal_encoding(tmp_path: Path,
                                                            encoding: str) -> None:
    """``convert`` writes UTF-8, the encoding policy files are read in, so its
    output loads back equal under any terminal encoding: under ASCII the
    directives held ``/caf\\xe9`` as text (a different script_name), under
    latin-1 bytes that are not UTF-8."""
    policy = TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=["X-Real-IP"],
                         script_name="/caf\u00e9/\u65e5")
    (tmp_path / "p.yaml").write_text(policy.to_yaml(), encoding="utf-8")
    for form, name in (("directives", "out.conf"), ("yaml", "out.yaml"), ("express", "o.args")):
        code, out, err = _cli(["convert", "p.yaml", "--to", form], cwd=tmp_path,
                              env={"PYTHONIOENCODING": encoding})
        if form == "express":
            assert code == 2, err  # express cannot carry script_name
            continue
        assert code == 0, err
        (tmp_path / name).write_bytes(out)
        assert TrustPolicy.from_file(str(tmp_path / name)) == policy, (form, out)


@pytest.mark.parametrize("name", ["policy.yaml", "ranges"])
def test_an_endless_file_is_refused(tmp_path: Path, name: str) -> None:
    """A policy or ranges file larger than MAX_FILE_SIZE (``/dev/zero``) is a
    ConfigError naming it: it was a MemoryError after reading all memory."""
    from trustedproxy.loaders import MAX_FILE_SIZE

    assert MAX_FILE_SIZE >= 1 << 20
    if name == "ranges":
        path = tmp_path / "p.yaml"
        path.write_text("trusted_proxies_files: [/dev/zero]\n")
        with pytest.raises(ConfigError, match=r"p.yaml:1: trusted_proxies_files: cannot read "
                                              r"ranges file: larger than \d+ MiB"):
            load_file(str(path))
    else:
        with pytest.raises(ConfigError, match=r"/dev/zero: cannot read policy file: larger "
                                              r"than \d+ MiB"):
            load_file("/dev/zero", format="yaml")


@pytest.mark.parametrize("text", [
    'trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For]\n'
    'script_name: "/app" --trust-proxy 6.6.6.6 --trust-proxy-header X-Real-IP\n',
    'trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Forwarded-For\n'
    'WSGITrustedProxies 6.6.6.6\n',
])
def test_broken_yaml_with_policy_keys_is_not_read_as_another_form(tmp_path: Path,
                                                                  text: str) -> None:
    """A file with no extension whose lines start with policy keys
    (``trusted_proxies:``), but which is not valid YAML, is read as YAML, so
    its YAML error is reported: it loaded as express arguments (or
    directives) from words in its values, trusting 6.6.6.6 without a word."""
    path = tmp_path / "policy"
    path.write_text(text)
    assert detect_format(str(path), text) == "yaml"
    with pytest.raises(ConfigError, match=r"invalid YAML: .*\n.*read as yaml because its name "
                                          r"has no known extension and its content has a line "
                                          r"starting with the key trusted_proxies"):
        load_file(str(path))


@pytest.mark.parametrize("argv", [
    ["--trust-proxy-header", "X-Forwarded-For", "--trust-proxy"],
    ["--trust-proxy-header", "X-Forwarded-For", "--trust-proxy", "10.0.0.1\n10.0.0.2"],
])
def test_a_trust_proxy_option_that_was_not_read_draws_no_follow_on(argv: list[str]) -> None:
    """``--trust-proxy`` with no value, or one holding a line break, is the
    one problem: the "--trust-proxy-header without --trust-proxy" problem
    only repeated it (proxies_lost was not set for these two)."""
    with pytest.raises(ConfigError, match=r"argv\[[23]\]: --trust-proxy") as info:
        TrustPolicy.from_express_args(argv)
    assert len(info.value.problems) == 1, info.value.problems


@pytest.mark.parametrize("copier", [lambda p: pickle.loads(pickle.dumps(p)), copy.copy,
                                    copy.deepcopy], ids=["pickle", "copy", "deepcopy"])
def test_a_copy_keeps_the_loaders_and_the_policys_warnings(
        copier: Callable[[TrustPolicy], TrustPolicy]) -> None:
    """A policy pickled or copied (a server that hands it to worker
    processes) warns as the original does: the loader's own warnings
    (Include not followed, a skipped <IfModule> block, added by
    loaders.add_warnings) and the policy's, with their file:line. The copy
    was rebuilt from the canonical values, so both were lost."""
    policy = TrustPolicy.from_directives(
        "WSGITrustedProxies 10.0.0.1/8\nWSGITrustedProxyHeaders X-Forwarded-For\n"
        "Include other.conf\n<IfModule !mod_wsgi.c>\nWSGITrustedProxies 6.6.6.6\n"
        "</IfModule>\n", source="vhost.conf")
    messages = [str(w) for w in policy.warnings()]
    assert any("vhost.conf:1: " in m and "10.0.0.1/8" in m for m in messages), messages
    assert any("vhost.conf:3: Include 'other.conf' is not followed" in m for m in messages)
    assert any("vhost.conf:5: WSGITrustedProxies is inside" in m for m in messages)
    duplicate = copier(policy)
    assert duplicate == policy
    assert duplicate.warnings() == policy.warnings()
    assert duplicate.to_yaml() == policy.to_yaml()


def test_a_defined_variable_is_expanded_in_every_line_as_apache_does() -> None:
    """Apache replaces ``${NAME}`` (from ``Define``) in every line before it
    reads it (``apache2 -t``: ``<IfModule ${M}>`` with ``Define M
    !mod_wsgi.c`` is skipped; ``${D} x`` runs the directive D names). Only
    the trust directives' arguments were expanded, so that block's trust line
    was read and 6.6.6.6 trusted."""
    policy = TrustPolicy.from_directives(
        "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
        "Define M !mod_wsgi.c\n<IfModule ${M}>\nWSGITrustedProxies 6.6.6.6\n</IfModule>\n"
        "Define D WSGITrustedProxies\n${D} 10.0.0.2\n")
    assert policy.trusted_proxies == ("10.0.0.1", "10.0.0.2")
    with pytest.raises(ConfigError, match=r"<directives>:1: WSGITrustedProxies uses \$\{NOPE\}, "
                                          "which this text does not Define"):
        TrustPolicy.from_directives("WSGITrustedProxies ${NOPE}\n")


def test_a_file_named_htaccess_is_read_as_directives(tmp_path: Path) -> None:
    """``.htaccess`` (the whole name: pathlib gives a dot-file no suffix)
    tells directives, as README says: an .htaccess with Apache directives and
    a '# trustedproxy:' line was read as YAML (an error), and YAML in one
    loaded as YAML rather than being the extension-contradiction error."""
    path = tmp_path / ".htaccess"
    assert detect_format(str(path), "") == "directives"
    path.write_text("RewriteEngine On\n# trustedproxy: script_name /app\n")
    assert load_file(str(path)) == TrustPolicy(script_name="/app")
    path.write_text("trusted_proxies: [10.0.0.1]\ntrusted_headers: [X-Real-IP]\n")
    with pytest.raises(ConfigError, match=r"the extension '\.htaccess' reads this file as "
                                          r"directives, but nothing in it is"):
        load_file(str(path))


@pytest.mark.parametrize("line", ["Include", "IncludeOptional", 'IncludeOptional ""',
                                  "include a.conf b.conf", "Include a\\ b.conf"])
def test_an_include_without_exactly_one_file_is_an_error(line: str) -> None:
    """``apache2 -t``: 'Include takes one argument' for no file, an empty one
    or two (``a\\ b.conf`` is two words to Apache). Apache refuses to start,
    so the text is refused rather than warned about ("Include '' is not
    followed")."""
    with pytest.raises(ConfigError, match=r"<directives>:3: .*nclude.* takes one argument, "
                                          r"the file to include \(Apache refuses to start "
                                          r"otherwise\); quote a name that holds spaces"):
        TrustPolicy.from_directives("WSGITrustedProxies 10.0.0.1\n"
                                    f"WSGITrustedProxyHeaders X-Forwarded-For\n{line}\n")


def test_an_include_with_a_quoted_name_is_warned_about() -> None:
    """A quoted name with spaces or escaped quotes is one file: a warning names it."""
    policy = TrustPolicy.from_directives(
        'WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n'
        'Include "sites/a b.conf"\nIncludeOptional \'x.conf\'\n')
    assert [w.value for w in policy.warnings()] == ["sites/a b.conf", "x.conf"]


def test_blocks_that_agree_keep_each_blocks_warnings() -> None:
    """When every block gives the same policy, the warnings of each block's
    lines are kept (``10.0.0.1/8``, host bits set, in the second vhost), not
    only the first block's: ``check`` called such a file clean."""
    policy = TrustPolicy.from_directives(
        "<VirtualHost *:80>\nWSGITrustedProxies 10.0.0.0/8\nWSGITrustedProxyHeaders "
        "X-Forwarded-For\n</VirtualHost>\n<VirtualHost *:443>\nWSGITrustedProxies 10.0.0.1/8\n"
        "WSGITrustedProxyHeaders X-Forwarded-For\n</VirtualHost>\n")
    assert [(w.source, w.value) for w in policy.warnings()] == [("<directives>:6", "10.0.0.1/8")]


def test_a_ranges_file_with_old_mac_line_ends_still_loads(tmp_path: Path) -> None:
    """A ranges file's lines may end in CR alone, as before files were read
    with their line ends as they are (read_text no longer translates them)."""
    (tmp_path / "ranges.txt").write_bytes(b"10.0.0.0/8\r# cdn\r192.0.2.0/24\r")
    (tmp_path / "p.yaml").write_text("trusted_proxies_files: [ranges.txt]\n"
                                     "trusted_headers: [X-Real-IP]\n")
    assert load_file(str(tmp_path / "p.yaml")).trusted_proxies == ("10.0.0.0/8",
                                                                    "192.0.2.0/24")
