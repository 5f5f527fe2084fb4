"""The compiled speedups (``trustedproxy._speedups``), when they are built and
not turned off: ``speedups`` is the module, or ``None`` for pure Python.

Set the environment variable ``TRUSTEDPROXY_PURE_PYTHON`` (to anything but
empty or ``0``, as ``TRUSTEDPROXY_REQUIRE_SPEEDUPS`` reads) before importing
trustedproxy to use the pure-Python reference implementation even when the
extension is built. The extension is also left
unused on a platform whose ``inet_pton`` fails the probe of
:mod:`trustedproxy.addresses`, since the compiled code calls it directly.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType

from .addresses import PLATFORM_STRICT

#: Why the compiled path is not used on a platform whose inet_pton fails the probe.
LAX_PLATFORM = ("this platform's inet_pton accepts address forms the strict parser rejects "
                "(addresses.PROBE_INVALID), and the C speedups call it directly")

speedups: ModuleType | None = None
#: Why the request path is pure Python although the extension may be built
#: ("" when the compiled path may be used).
PURE_PYTHON = os.environ.get("TRUSTEDPROXY_PURE_PYTHON", "").strip() not in ("", "0")
NOT_USED = ("TRUSTEDPROXY_PURE_PYTHON is set" if PURE_PYTHON
            else "" if PLATFORM_STRICT else LAX_PLATFORM)
if not NOT_USED:
    # Not compiled (no C compiler when it was installed): pure Python.
    with contextlib.suppress(ImportError):
        from . import _speedups as speedups  # noqa: F401 (the module is the value)
