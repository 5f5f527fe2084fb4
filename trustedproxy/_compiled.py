"""The compiled speedups (``trustedproxy._speedups``), when they are built and
not turned off: ``speedups`` is the module, or ``None`` for pure Python.

Set the environment variable ``TRUSTEDPROXY_PURE_PYTHON`` (to anything
non-empty) before importing trustedproxy to use the pure-Python reference
implementation even when the extension is built.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType

speedups: ModuleType | None = None
if not os.environ.get("TRUSTEDPROXY_PURE_PYTHON"):
    # Not compiled (no C compiler when it was installed): pure Python.
    with contextlib.suppress(ImportError):
        from . import _speedups as speedups  # noqa: F401 (the module is the value)
