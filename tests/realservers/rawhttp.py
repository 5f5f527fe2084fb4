"""A raw HTTP/1.1 client: header names and values go on the wire exactly as given.

``http.client`` and friends normalise, merge or refuse odd headers; the
differential suite needs duplicates, odd names and empty values sent verbatim,
from a chosen source address (127.0.0.1 is the trusted peer, 127.0.0.2 an
untrusted one: all of 127.0.0.0/8 is loopback on Linux).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from realservers.common import check_loopback

MAX_HEAD_BYTES = 65536
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0


class ConnectionClosed(ConnectionError):
    """The server closed the connection before a complete response."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    will_close: bool = field(default=False, compare=False)

    def header(self, name: str) -> str | None:
        """The first header named *name* (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def encode_request(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body and not any(name.lower() == "content-length" for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


class _Reader:
    """Buffered, bounded reads from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise ValueError(f"response head longer than {limit} bytes")
            if not self._fill():
                raise ConnectionClosed(
                    f"connection closed after {len(self.buffer)} bytes, "
                    f"waiting for {marker!r}"
                )
        index = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:index], self.buffer[index:]
        return data

    def read_exact(self, count: int) -> bytes:
        if count > MAX_BODY_BYTES:
            raise ValueError(f"body of {count} bytes is too large")
        while len(self.buffer) < count:
            if not self._fill():
                raise ConnectionClosed("connection closed in the middle of a body")
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_to_close(self) -> bytes:
        while self._fill():
            if len(self.buffer) > MAX_BODY_BYTES:
                raise ValueError("body too large")
        data, self.buffer = self.buffer, b""
        return data


def _read_response(reader: _Reader, method: str) -> RawResponse:
    head = reader.read_until(b"\r\n\r\n", MAX_HEAD_BYTES).decode("latin-1")
    status_line, *header_lines = head[:-4].split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ValueError(f"bad status line {status_line!r}")
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    lowered = {name.lower(): value for name, value in headers}
    connection = lowered.get("connection", "").lower()
    will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
    status = int(code)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in lowered.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        for _ in range(100000):
            size_line = reader.read_until(b"\r\n", MAX_HEAD_BYTES)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers until an empty line
                for _ in range(1000):
                    if reader.read_until(b"\r\n", MAX_HEAD_BYTES) == b"\r\n":
                        break
                break
            parts.append(reader.read_exact(size))
            reader.read_exact(2)
        body = b"".join(parts)
    elif "content-length" in lowered:
        body = reader.read_exact(int(lowered["content-length"]))
    else:
        body = reader.read_to_close()
        will_close = True
    return RawResponse(status, reason, headers, body, will_close)


class RawConnection:
    """One keep-alive connection from *source* to host:port, reopened when closed.

    ``Host: host:port`` is added when *headers* has no Host header (pass
    ``add_host=False`` to send none).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        source: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        check_loopback(host)
        check_loopback(source)
        self.host = host
        self.port = port
        self.source = source
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reader: _Reader | None = None
        self.requests_on_socket = 0

    def _connect(self) -> _Reader:
        self.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.bind((self.source, 0))
            sock.connect((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader = _Reader(sock)
        self.requests_on_socket = 0
        return self.reader

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.reader = None

    def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        *,
        body: bytes = b"",
        add_host: bool = True,
    ) -> RawResponse:
        all_headers = list(headers)
        if add_host and not any(name.lower() == "host" for name, _ in all_headers):
            all_headers.insert(0, ("Host", f"{self.host}:{self.port}"))
        payload = encode_request(method, target, all_headers, body)
        # A reused keep-alive socket may have been closed by the server since
        # the last response: retry once on a fresh one. A fresh socket that
        # fails is a real failure (e.g. the server crashed on this request).
        for attempt in range(2):
            reused = self.sock is not None and self.requests_on_socket > 0
            reader = self.reader if self.reader is not None else self._connect()
            assert self.sock is not None
            try:
                self.sock.sendall(payload)
                response = _read_response(reader, method)
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            self.requests_on_socket += 1
            if response.will_close:
                self.close()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_request(
    host: str,
    port: int,
    method: str = "GET",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (),
    *,
    source: str = "127.0.0.1",
    body: bytes = b"",
    timeout: float = DEFAULT_TIMEOUT,
    add_host: bool = True,
) -> RawResponse:
    """One request on a fresh connection."""
    with RawConnection(host, port, source=source, timeout=timeout) as conn:
        return conn.request(method, target, headers, body=body, add_host=add_host)
