"""What the fast request path promises besides speed (speed itself is measured by
benchmarks/bench.py, never asserted in tests): no netaddr at import or request
time, and decisions built the fast way that behave as constructed ones."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trustedproxy import Decision, Hop, TrustPolicy

ROOT = Path(__file__).resolve().parent.parent


def test_import_and_requests_load_neither_netaddr_nor_yaml() -> None:
    """``import trustedproxy``, building a policy, compiling it and serving
    requests import neither netaddr nor PyYAML (netaddr is for writing networks
    back as text, PyYAML for policy files)."""
    script = textwrap.dedent("""
        import sys
        import trustedproxy
        loaded = {"netaddr": "netaddr" in sys.modules, "yaml": "yaml" in sys.modules}
        assert not any(loaded.values()), ("import", loaded)
        policy = trustedproxy.TrustPolicy(
            trusted_proxies=["10.0.0.0/8", "2001:db8::/32"]
            + [f"8.{i // 256}.{i % 256}.0/24" for i in range(300)],  # a sliced matcher
            trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
        app = trustedproxy.TrustedProxyMiddleware(lambda environ, start: [b""], policy)
        for peer in ("10.0.0.1", "2001:db8::1", "192.0.2.1"):
            environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.2",
                       "HTTP_X_FORWARDED_PROTO": "https"}
            app(environ, None)
        assert "netaddr" not in sys.modules and "yaml" not in sys.modules, "requests"
    """)
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", script], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def decisions() -> list[Decision]:
    engine = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"],
                         script_name="/app").compile()
    return [
        engine.decide("10.0.0.1", {}),
        engine.decide("192.0.2.1", {}),
        engine.decide("192.0.2.1", {"x-forwarded-for": "203.0.113.9"}),
        engine.decide("10.0.0.1", {"x-forwarded-for": "203.0.113.9, 10.0.0.2",
                                   "x-forwarded-proto": "https", "x-real-ip": "1.2.3.4"}),
        engine.decide("10.0.0.1", {"x-forwarded-for": "junk", "x-forwarded-proto": "gopher"}),
    ]


def test_fast_decisions_are_ordinary_decisions(decisions: list[Decision]) -> None:
    """A decision the engine builds without __init__ equals, hashes, copies,
    pickles, replaces and refuses assignment exactly like one built field by field."""
    for decision in decisions:
        rebuilt = Decision(**{f.name: getattr(decision, f.name)
                              for f in dataclasses.fields(Decision)})
        assert decision == rebuilt
        assert hash(decision) == hash(rebuilt)
        assert repr(decision) == repr(rebuilt)
        assert dataclasses.asdict(decision) == dataclasses.asdict(rebuilt)
        assert pickle.loads(pickle.dumps(decision)) == decision
        assert copy.deepcopy(decision) == decision
        assert dataclasses.replace(decision, client="198.51.100.1").client == "198.51.100.1"
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
            decision.client = "198.51.100.1"  # type: ignore[misc]
    walked = decisions[3]
    assert walked.chain == (Hop("203.0.113.9", "client"), Hop("10.0.0.2", "trusted"))
    assert walked.removed == ("x-real-ip",)
    assert walked.prefix == "/app"


def test_every_optional_field_has_a_class_default() -> None:
    """The fast constructors leave out fields at their defaults, which then read the
    class attribute dataclass sets: so every field of Decision but peer and trusted,
    and none of Hop, must have a plain default (a default_factory sets none)."""
    decision_fields = dataclasses.fields(Decision)
    assert [f.name for f in decision_fields[:2]] == ["peer", "trusted"]
    for f in decision_fields[2:]:
        assert f.default is not dataclasses.MISSING, f.name
        assert getattr(Decision, f.name) == f.default, f.name
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Hop))
