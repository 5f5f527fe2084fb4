"""The helpers the real-server tests share (``tests/realservers/common.py``)."""

from __future__ import annotations

import socket

import pytest
from realservers import free_port
from realservers.common import _ephemeral_ports


def test_free_port_is_bindable_and_outside_the_ephemeral_range() -> None:
    """free_port draws ports that outgoing connections never take, so a server
    started on one cannot lose it to a client's local port; each was free."""
    ephemeral = _ephemeral_ports()
    ports = [free_port() for _ in range(20)]
    assert all(20000 <= port < 65536 and port not in ephemeral for port in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_free_port_refuses_non_loopback_hosts() -> None:
    """Only 127.0.0.0/8: the test helpers talk to nothing else."""
    with pytest.raises(ValueError, match="not a loopback address"):
        free_port("192.0.2.1")
