"""Packaging: the optional C speedups, and the build metadata.

``trustedproxy._speedups`` is built by setup.py when a C compiler is there and
skipped (with a warning) when not; ``TRUSTEDPROXY_PURE_PYTHON`` turns it off at
import time; CI (``CI=true``) must run on the compiled path, so that it can never
silently test only pure Python.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import trustedproxy

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(trustedproxy.__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: The compiled extension next to the imported package, if it was built.
BUILT = [PACKAGE / f"_speedups{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES
         if (PACKAGE / f"_speedups{suffix}").is_file()]

requires_built = pytest.mark.skipif(
    not BUILT, reason="trustedproxy._speedups is not built next to the package")


def speedups_in_subprocess(**env: str | None) -> bool:
    """``trustedproxy.wsgi.SPEEDUPS`` in a fresh interpreter importing this
    package, with *env* applied to the environment (``None`` removes a variable)."""
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE.parent), *filter(None, [environ.get("PYTHONPATH")])])
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    out = subprocess.run(
        [sys.executable, "-c",
         "import trustedproxy, trustedproxy.wsgi as w; print(trustedproxy.__file__, w.SPEEDUPS)"],
        env=environ, capture_output=True, text=True, check=True, timeout=60)
    where, speedups = out.stdout.split()
    assert Path(where).resolve().parent == PACKAGE  # the same package as this process
    return {"True": True, "False": False}[speedups]


def test_pure_python_variable_turns_the_speedups_off() -> None:
    """TRUSTEDPROXY_PURE_PYTHON set to anything but empty or 0: the Python reference path."""
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON="1") is False
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON="yes") is False
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON="00") is False


@requires_built
def test_built_extension_is_used() -> None:
    """With the extension built and the variable unset, empty or 0 (as
    TRUSTEDPROXY_REQUIRE_SPEEDUPS reads it), the compiled path."""
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON=None) is True
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON="") is True
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON="0") is True
    assert speedups_in_subprocess(TRUSTEDPROXY_PURE_PYTHON=" 0 ") is True


@pytest.mark.skipif(
    os.environ.get("CI") != "true" or bool(os.environ.get("TRUSTEDPROXY_PURE_PYTHON")),
    reason="only in CI (CI=true), on the compiled run (TRUSTEDPROXY_PURE_PYTHON unset)")
def test_ci_runs_on_the_compiled_path() -> None:
    """In CI the extension must be built and in use: a CI whose install fell back
    to pure Python would otherwise pass while testing only the reference path."""
    from trustedproxy import _speedups, wsgi

    assert Path(_speedups.__file__).resolve().parent == PACKAGE
    assert wsgi.SPEEDUPS is True


def test_pyproject_metadata() -> None:
    """setuptools builds it, with the version from trustedproxy.__version__ and
    the description flit used to take from the package docstring."""
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    project = PYPROJECT["project"]
    assert project["name"] == "trustedproxy"
    assert project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "trustedproxy.__version__"}
    assert trustedproxy.__doc__ is not None
    assert project["description"] == trustedproxy.__doc__.splitlines()[0]
    assert project["scripts"] == {"trustedproxy": "trustedproxy.cli:main"}
    assert set(project["optional-dependencies"]) == {"test", "dev", "bench", "fuzz"}
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["trustedproxy"]


def test_classifiers_name_each_python_ci_tests() -> None:
    """The "Python :: 3.X" classifiers are exactly the CPython versions CI tests:
    requires-python's minimum (the machine's python3 in .ci/run) and the ones
    .ci/versions.sh tests by default, with none missing in between."""
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(int(c.removeprefix(prefix)) for c in PYPROJECT["project"]["classifiers"]
                    if c.startswith(prefix))
    assert PYPROJECT["project"]["requires-python"] == f">=3.{minors[0]}"
    assert minors == list(range(minors[0], minors[-1] + 1))
    script = ROOT / ".ci" / "versions.sh"
    if not script.is_file():
        pytest.skip(".ci/versions.sh is not in an sdist")
    defaults = re.search(r"^\[ \$# -gt 0 \] \|\| set -- (.+)$",
                         script.read_text(encoding="utf-8"), re.M)
    assert defaults is not None
    assert [f"3.{m}" for m in minors[1:]] == defaults.group(1).split()


def test_installed_metadata_matches_the_package() -> None:
    """The installed distribution (when this package is installed) carries the
    package's own version and description."""
    try:
        meta = importlib.metadata.metadata("trustedproxy")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("trustedproxy is not installed (tests run from the source tree)")
    assert meta["Version"] == trustedproxy.__version__
    assert meta["Summary"] == PYPROJECT["project"]["description"]


def test_sdist_manifest_names_files_that_exist() -> None:
    """Every file, folder and pattern MANIFEST.in puts in the sdist names something
    that exists (a rename would otherwise drop it silently), SECURITY.md and the
    files the tests read (fuzz targets and the speedups corpus, .ci/run) among them."""
    named: list[str] = []
    for line in (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines():
        words = line.split("#")[0].split()
        if words and words[0] in ("include", "graft"):
            named += words[1:]
    assert {"tests", "config-examples", "benchmarks", "CHANGELOG.md", "SECURITY.md",
            "fuzz/*.py", "fuzz/corpus/speedups", ".ci/run"} <= set(named)
    for name in named:
        assert list(ROOT.glob(name)), name


def _build_ext(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``setup.py build_ext --inplace`` on a copy of the sources in *tmp_path*."""
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "trustedproxy", tmp_path / "trustedproxy",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    environ = dict(os.environ)
    environ.pop("TRUSTEDPROXY_REQUIRE_SPEEDUPS", None)  # CI exports it
    environ.update(env)
    return subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tmp_path, env=environ,
        capture_output=True, text=True, timeout=300)


needs_setuptools = pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None, reason="setuptools is not installed")


@needs_setuptools
def test_build_without_a_compiler_falls_back_to_pure_python(tmp_path: Path) -> None:
    """A compiler that fails: the build succeeds without the extension, and says so."""
    done = _build_ext(tmp_path, CC="false")
    assert done.returncode == 0, done.stderr
    assert "trustedproxy: the C speedups could not be built" in done.stderr, done.stderr
    assert "installing the pure-Python version, which is correct but slower" in done.stderr
    assert not list((tmp_path / "trustedproxy").glob("_speedups*.so"))


@needs_setuptools
def test_build_without_a_compiler_fails_when_speedups_are_required(tmp_path: Path) -> None:
    """TRUSTEDPROXY_REQUIRE_SPEEDUPS=1 and a compiler that fails: the build fails."""
    done = _build_ext(tmp_path, CC="false", TRUSTEDPROXY_REQUIRE_SPEEDUPS="1")
    assert done.returncode != 0
    assert "TRUSTEDPROXY_REQUIRE_SPEEDUPS is set: failing the build" in done.stderr, done.stderr
