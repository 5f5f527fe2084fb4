"""Processes, ports and directories for the real-server fixtures."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

#: Where ``.ci/install-servers.sh`` builds mod_wsgi (same variable, same default).
MODWSGI_VENV = Path(
    os.environ.get("TRUSTEDPROXY_MODWSGI_VENV", "/opt/trustedproxy-modwsgi/venv")
)

#: Readiness polling: at most this many tries, this far apart (10 s in all).
READY_TRIES = 200
READY_INTERVAL = 0.05

#: Stopping: how long to wait after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 10.0

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class ServerStartError(RuntimeError):
    """A server did not come up; the message holds the tail of its logs."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip (or fail under ``CI=true``) with *reason* unless *condition* holds."""
    if condition:
        return
    unavailable(reason)


def unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI=true and a required server is unavailable: {reason}")
    pytest.skip(reason)


def check_loopback(host: str) -> None:
    """Refuse any address outside 127.0.0.0/8: these helpers talk to nothing else."""
    if ipaddress.ip_address(host) not in LOOPBACK:
        raise ValueError(f"{host!r} is not a loopback address (127.0.0.0/8)")


#: Where Linux says which local ports outgoing connections take.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: Random draws before free_port falls back to a port the kernel picks.
_PORT_TRIES = 200


@functools.cache
def _listening_ports() -> tuple[int, ...]:
    """Ports from 20000 up that outgoing connections never take (read once)."""
    ephemeral = _ephemeral_ports()
    return tuple(port for port in range(20000, 65536) if port not in ephemeral)


def _ephemeral_ports() -> range:
    """The kernel's range for the local ports of outgoing connections."""
    try:
        low, high = (int(word) for word in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(low, high + 1)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on *host* a moment ago.

    Drawn outside the kernel's ephemeral range: a port the kernel hands out
    (bind to port 0) can be taken, between this call and the server's bind,
    as the local port of any outgoing connection (readiness probes, test
    clients), and the server then fails with "Address already in use".
    """
    check_loopback(host)
    candidates = _listening_ports()
    rng = random.Random()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        for _ in range(_PORT_TRIES if candidates else 0):
            port = rng.choice(candidates)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def make_server_dir(prefix: str) -> Path:
    """A fresh directory under /tmp that www-data can read (mode 0755)."""
    path = Path(tempfile.mkdtemp(prefix=f"trustedproxy-{prefix}-", dir="/tmp"))
    path.chmod(0o755)
    return path


def write_file(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return data[-limit:]


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port."""
    check_loopback(host)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedServer:
    """A server process started in its own session, stopped by PID.

    ``pid_file`` (when the server writes one) names the master process; the
    process group started by :meth:`start` catches every child as well.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        directory: Path,
        host: str,
        port: int,
        pid_file: Path | None = None,
        logs: Sequence[Path] = (),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        owns_directory: bool = True,
    ) -> None:
        check_loopback(host)
        self.name = name
        self.argv = list(argv)
        self.directory = directory
        self.host = host
        self.port = port
        self.pid_file = pid_file
        self.output = directory / f"{name}.output"
        self.logs = [self.output, *logs]
        self.env = env
        self.cwd = cwd
        self.owns_directory = owns_directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready: Callable[[], bool] | None = None) -> ManagedServer:
        """Start the process and wait (bounded) until *ready* (default: port open)."""
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
                cwd=self.cwd,
            )
        check = ready or (lambda: port_answers(self.host, self.port))
        for _ in range(READY_TRIES):
            if self.process.poll() is not None:
                break
            if check():
                return self
            time.sleep(READY_INTERVAL)
        message = self.describe_failure()
        self.cleanup()
        raise ServerStartError(message)

    def describe_failure(self) -> str:
        status = "still running" if self.process and self.process.poll() is None else (
            f"exited with {self.process.returncode}" if self.process else "never started"
        )
        parts = [f"{self.name} did not become ready on {self.url} ({status})"]
        parts.append("argv: " + " ".join(self.argv))
        for log in self.logs:
            parts.append(f"--- {log}:\n{tail(log)}")
        return "\n".join(parts)

    def log_text(self) -> str:
        return "\n".join(f"--- {log}:\n{tail(log)}" for log in self.logs)

    def _master_pid(self) -> int | None:
        if self.pid_file is None:
            return None
        try:
            text = self.pid_file.read_text(encoding="ascii").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def stop(self) -> None:
        """SIGTERM the master (pid file) and our process group, then SIGKILL."""
        process = self.process
        if process is None:
            return
        pgid = process.pid  # start_new_session: the group is named by our child
        master = self._master_pid()
        if master is not None and master != process.pid and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(master, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE_SECONDS)
        # Children that outlived the master (e.g. mod_wsgi daemon processes).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def find_program(name: str, *candidates: str) -> str | None:
    """The first existing executable among *candidates*, else ``shutil.which``."""
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)
