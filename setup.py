"""Build the optional C speedups, trustedproxy._speedups.

Everything else about the package is declared in pyproject.toml; this file only
adds the extension module, which pyproject.toml cannot describe. Its C source is
written for gcc or clang on POSIX and for MSVC on Windows, where the module
links Winsock (``ws2_32``) for ``inet_pton`` and ``inet_ntop``.

The extension is optional: trustedproxy/wsgi.py falls back to the pure-Python
request path (the reference implementation) when it is not importable. So when
compiling fails (no C compiler, no Python headers) the build prints a warning and
installs the package without it. Set ``TRUSTEDPROXY_REQUIRE_SPEEDUPS=1`` to make
that failure an error instead (CI does, so that it cannot silently test only the
pure-Python path).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

#: Flags for gcc and clang: optimise, and warn (warnings never fail the build).
UNIX_FLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
#: Flags for MSVC.
MSVC_FLAGS = ["/O2", "/W3"]
#: Libraries to link on Windows: Winsock, for inet_pton and inet_ntop.
WINDOWS_LIBRARIES = ["ws2_32"]

#: What a missing compiler or a failed compile raises, from setuptools' distutils.
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


def speedups_required() -> bool:
    """Whether ``TRUSTEDPROXY_REQUIRE_SPEEDUPS`` asks for a failed build to be an error."""
    return os.environ.get("TRUSTEDPROXY_REQUIRE_SPEEDUPS", "").strip() not in ("", "0")


class OptionalBuildExt(build_ext):
    """``build_ext`` that skips an optional extension it cannot compile, with a warning.

    An extension is optional unless ``TRUSTEDPROXY_REQUIRE_SPEEDUPS`` is set;
    ``Extension.optional`` also tells setuptools' editable install not to look
    for the compiled file when it was skipped.
    """

    def run(self) -> None:
        """Build the extensions; a missing compiler toolchain is not an error."""
        try:
            super().run()
        except BUILD_ERRORS as exc:
            if not all(ext.optional for ext in self.extensions):
                raise
            warn_skipped(exc)

    def build_extension(self, ext: Extension) -> None:
        """Compile *ext* with our flags; a failed compile of an optional one is not an error."""
        flags = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else UNIX_FLAGS
        ext.extra_compile_args = [*flags, *ext.extra_compile_args]
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            if not ext.optional:
                sys.stderr.write(
                    f"trustedproxy: the C speedups could not be built ({describe(exc)}), "
                    "and TRUSTEDPROXY_REQUIRE_SPEEDUPS is set: failing the build\n"
                )
                raise
            warn_skipped(exc)


def describe(exc: BaseException) -> str:
    """*exc* in a few words, for a warning."""
    return f"{type(exc).__name__}: {exc}"


def warn_skipped(exc: BaseException) -> None:
    """Say, loudly, that the package is being installed without its C speedups."""
    bar = "*" * 78
    sys.stderr.write(
        f"\n{bar}\n"
        f"WARNING: trustedproxy: the C speedups could not be built ({describe(exc)}); "
        "installing the pure-Python version, which is correct but slower.\n"
        "To get them, install a C compiler and the Python headers (Debian: gcc libc6-dev "
        "python3-dev) and reinstall; trustedproxy.wsgi.SPEEDUPS tells which path is in use.\n"
        f"{bar}\n\n"
    )


setup(
    ext_modules=[
        Extension(
            "trustedproxy._speedups",
            ["trustedproxy/_speedups.c"],
            libraries=WINDOWS_LIBRARIES if sys.platform == "win32" else [],
            optional=not speedups_required(),
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
