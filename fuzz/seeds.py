"""Write the hand-made seed inputs into ``fuzz/corpus/<target>/`` (idempotent).

``python fuzz/seeds.py`` encodes a few realistic requests and configurations
with the same byte layout :mod:`targets` decodes, so that fuzzing starts from
valid syntax rather than from nothing. File names are ``seed-<name>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import targets  # noqa: E402  (needs the path above)

from trustedproxy.headers import HEADERS  # noqa: E402

_NAMES = [spec.name for spec in HEADERS.values()]


def encode_request(policy: int, peer: str, headers: list[tuple[str, str]]) -> bytes:
    """The bytes :func:`targets.request_input` decodes into this request."""
    out = [policy, 1, targets.PEERS.index(peer), 0, 1, 0, 1, 1, len(headers)]
    for name, value in headers:
        raw = value.encode("latin-1")
        out += [0, _NAMES.index(name), 1, len(raw), *raw]
    return bytes(out)


REQUESTS = {
    "nginx-3-hops": (0, "10.1.2.3", [("X-Forwarded-For", "203.0.113.9, 10.0.0.7, 10.0.0.8"),
                                     ("X-Forwarded-Proto", "https"),
                                     ("X-Forwarded-Host", "example.com:8443"),
                                     ("X-Forwarded-Port", "8443"),
                                     ("X-Forwarded-Prefix", "/app/")]),
    "untrusted-spoof": (0, "203.0.113.9", [("X-Forwarded-For", "10.0.0.1"),
                                           ("X-Real-IP", "10.0.0.1"),
                                           ("Forwarded", "for=10.0.0.1;proto=https")]),
    "real-ip": (1, "127.0.0.1", [("X-Real-IP", "[2001:db8::1]:443"), ("X-Forwarded-SSL", "on"),
                                 ("X-Host", "[::1]:80"), ("X-Forwarded-Server", "example.org"),
                                 ("X-Script-Name", "/app")]),
    "mapped-peer": (0, "::ffff:10.0.0.1", [("X-Forwarded-For", "junk, 198.51.100.7, 10.0.0.2")]),
    "unix-socket": (3, "/run/app.sock", [("X-Forwarded-For", "[2001:db8::5]:1234"),
                                         ("Front-End-Https", "off")]),
    "wildcard": (2, "203.0.113.9", [("X-Client-IP", "198.51.100.1"), ("X-Scheme", "wss"),
                                    ("X-Forwarded-Script-Name", "/a//b/"),
                                    ("X-Forwarded-Port", "99999")]),
    "list-in-single": (0, "10.0.0.1", [("X-Forwarded-Proto", "https, http"),
                                       ("X-Forwarded-For", ",,  ,")]),
    "forwarded": (5, "10.0.0.1", [("Forwarded", 'for=203.0.113.9;proto=https;host=shop.example, '
                                               'for="[2001:db8::1]:443";proto=http'),
                                  ("X-Forwarded-Port", "443")]),
    "hop-aligned": (6, "10.1.2.3", [("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.0.0.2"),
                                    ("X-Forwarded-Proto", "http, https, http"),
                                    ("X-Forwarded-Host", "evil.example, shop.example, internal"),
                                    ("X-Forwarded-Port", "1, 443, 8080")]),
}

def encode_speedups(mode: int, policy: int, peer: str, headers: list[tuple[str, str]]) -> bytes:
    """The bytes :func:`targets.speedups_input` decodes: the mode byte, then
    the request layout (*policy* indexes ``targets.SPEEDUP_POLICIES``); a
    header name not in the table is written out as text."""
    out = [mode, policy, 1, targets.PEERS.index(peer), 0, 1, 0, 1, 1, len(headers)]
    for name, value in headers:
        raw = value.encode("latin-1")
        if name in _NAMES:
            out += [0, _NAMES.index(name), 1, len(raw), *raw]
        else:
            out += [7, len(name), *name.encode("latin-1"), 1, len(raw), *raw]
    return bytes(out)


SPEEDUPS = {
    **{name: encode_speedups(0, *args) for name, args in REQUESTS.items()},
    "shared-engine-3-hops": encode_speedups(2, *REQUESTS["nginx-3-hops"]),
    "dict-subclass": encode_speedups(1, *REQUESTS["nginx-3-hops"]),
    # bit 2: an odd value; bits 3-5 pick REMOTE_ADDR (0), bits 6-7 a str subclass (2).
    "str-subclass-peer": encode_speedups(4 | 0 << 3 | 2 << 6, *REQUESTS["nginx-3-hops"]),
    "bytes-xff": encode_speedups(4 | 1 << 3 | 1 << 6, *REQUESTS["nginx-3-hops"]),
    "ipv6-chain": encode_speedups(0, 0, "2001:db8::5", [
        ("X-Forwarded-For", "2001:db9::1, 2001:DB8:0:0::7, ::ffff:10.0.0.1"),
        ("X-Forwarded-Proto", "https")]),
    "all-trusted": encode_speedups(0, 0, "10.0.0.1", [("X-Forwarded-For", "10.0.0.1, 10.0.0.2")]),
    "untrusted-plain": encode_speedups(0, 0, "203.0.113.9", []),
    "trusted-plain-fixed-prefix": encode_speedups(0, 7, "10.0.0.1", []),
    "custom-headers": encode_speedups(0, 7, "127.0.0.1", [
        ("CF-Connecting-IP", "203.0.113.9"), ("X-Original-Host", "shop.example:443"),
        ("X-Original-Prefix", "/shop"), ("X-Forwarded-Proto", "HTTPS"),
        ("X-Forwarded-For", "1.2.3.4")]),
    "many-networks": encode_speedups(0, 8, "10.0.0.1", [
        ("X-Forwarded-For", "203.0.113.9, 10.0.3.1, 10.0.4.5, 10.2.0.7"),
        ("X-Forwarded-HTTPS", "on"), ("X-Forwarded-Host", "a.example"),
        ("X-Forwarded-Port", "8443"), ("X-Script-Name", "/p")]),
    "many-networks-v6": encode_speedups(0, 8, "2001:db8::5", [
        ("X-Forwarded-For", "2001:db9::1, 2001:db8:12b::1, 2001:db8:12c::1")]),
}

XFF = {
    "three-hops": "203.0.113.9, 10.0.0.7, 10.0.0.8",
    "all-trusted": "10.0.0.1, 10.0.0.2",
    "junk-middle": "1.2.3.4, unknown, 10.0.0.3",
    "junk-right": "10.0.0.3, _hidden",
    "v6-ports": "[2001:db9::1]:8080, [2001:db8::2]:443, 192.0.2.10:80",
    "mapped": "::ffff:203.0.113.1, ::ffff:10.0.0.1",
    "empty": " , ,",
}

YAML = {
    "basic": "trusted_proxies: [10.0.0.0/8, 192.0.2.10]\n"
             "trusted_headers: [X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host]\n",
    "full": "trusted_proxies:\n  - 10.0.0.0/8\n  - 2001:db8::/32\n  - 172.16.0.1/12\n"
            "trusted_headers:\n  - X-Real-IP\n  - X-Forwarded-SSL\n  - X-Script-Name\n"
            "script_name: /app/\nstrip_prefix_from_path: true\ntrust_unix_socket: false\n",
    "errors": "trusted_proxies: 10.0.0.0/33\ntrusted_headers: [X_Forwarded_For, X-Real-IP, "
              "X-Forwarded-For]\nscript_name: 5\n",
    "anchors": "a: &x [1, 2]\ntrusted_proxies: *x\n",
    "tags": "trusted_proxies: !!set {10.0.0.1: null}\ntrusted_headers: !!binary aGk=\n",
}

DIRECTIVES = {
    "basic": "WSGITrustedProxies 10.0.0.0/8 192.0.2.10\n"
             "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto\n",
    "partial": "WSGITrustedProxies 127.0.0 10.0.0.0/255.0.0.0\n"
               "WSGITrustedProxyHeaders X-Real-IP\n",
    "errors": "WSGITrustedProxies\nWSGITrustedProxyHeaders X_Forwarded_For\nWSGIBogus 1\n",
}

EXPRESS = {  # a leading 0: one shell string; 1: an argument list, NUL between arguments
    "text": b"\0mod_wsgi-express start-server app.wsgi \\\n  --trust-proxy 10.0.0.0/8 "
            b"--trust-proxy=192.0.2.10 \\\n  --trust-proxy-header X-Forwarded-For  # c\n"
            b"  --trust-proxy-header 'X-Forwarded-Proto'\n",
    "argv": b"\1--trust-proxy\x00127.0.0.1 10.0.0.0/8\x00--trust-proxy-h\x00X-Real-IP"
            b"\x00--\x00--trust-proxy\x00junk",
    "errors": b"\0--trust-p 10.0.0.1 --trusted-proxy x --trust-proxy ::ffff:10.0.0.1 "
              b"--trust-proxy-header X_Forwarded_For --trust-proxy-header \"a\n",
}


#: files layout: the first byte is name (bits 0-1: policy, x.yaml, x.conf,
#: x.args) | format << 2 (0: none, 1: yaml, 2: directives, 3: express).
FILES = {
    "yaml-no-name": (0, 0, YAML["basic"]),
    "yaml-markers-in-strings": (0, 0, "# WSGITrustedProxies 10.0.0.1\n"
                                      "trusted_proxies: [10.0.0.0/8]\n"
                                      "script_name: '/--trust-proxy'\n"
                                      "trusted_headers: [X-Real-IP]\n"),
    "directives-no-name": (0, 0, "<VirtualHost *:80>\n" + DIRECTIVES["basic"] + "</VirtualHost>\n"),
    "directives-ifmodule": (0, 0, "<IfModule !mod_wsgi.c>\nWSGITrustedProxies 10.0.0.9\n"
                                  "</IfModule>\nInclude 'other file.conf'\n"
                                  + DIRECTIVES["basic"]),
    "options-only": (0, 0, "# trustedproxy: script_name /app\n# trustedproxy: max_hops 5\n"),
    "express-no-name": (0, 0, "mod_wsgi-express start-server app.wsgi --trust-proxy 10.0.0.1 "
                              "--trust-proxy-header X-Forwarded-For\n"),
    "express-quoted-directive": (0, 0, "--trust-proxy '10.0.0.1\nWSGITrustedProxies 1.2.3.4'\n"),
    "yaml-as-conf": (2, 0, YAML["basic"]),
    "yaml-format-express": (0, 3, YAML["basic"]),
    "directives-format-yaml": (1, 1, DIRECTIVES["basic"]),
    "express-as-args": (3, 0, "--trust-proxy=10.0.0.0/8 --trust-proxy-header=X-Real-IP\n"),
    "empty-conf": (2, 2, ""),
}


FORWARDED = {
    "rfc-example": 'for="_gazonk", For="[2001:db8:cafe::17]:4711", for=192.0.2.60;proto=http;'
                   'by=203.0.113.43',
    "quoted-comma": 'for=192.0.2.1;host="a,b", for=10.0.0.1',
    "unclosed-quote": 'for="10.0.0.1, for=203.0.113.9;proto=https',
    "injection": 'user="bad,for=_whitelisted", for=unknown',
}


def main() -> int:
    corpora: dict[str, dict[str, bytes]] = {
        "request": {name: encode_request(*args) for name, args in REQUESTS.items()},
        "asgi": {**{name: encode_request(*args) for name, args in REQUESTS.items()},
                 # a last byte with bits 1-3 set: bits 4-7 pick a value of the wrong
                 # type or shape (targets._ODD_SCOPES)
                 **{f"odd-{i}": encode_request(*REQUESTS["nginx-3-hops"]) + bytes([14 | i << 4])
                    for i in range(16)}},
        # speedups layout: a mode byte (see targets.speedups_input), then the request's.
        "speedups": SPEEDUPS,
        # xff layout: peer choice, then 0 (an even byte: the rest is the raw value).
        "xff": {name: bytes([0, 0]) + value.encode("latin-1") for name, value in XFF.items()},
        "yaml": {name: text.encode() for name, text in YAML.items()},
        # directives layout: the first byte picks the block (0: none), the rest is text.
        "directives": {name: b"\0" + text.encode() for name, text in DIRECTIVES.items()},
        "express": EXPRESS,
        # forwarded layout: the first byte picks the element limit (0: the default).
        "forwarded": {name: b"\0" + v.encode("latin-1") for name, v in FORWARDED.items()},
        # files layout: see FILES.
        "files": {name: bytes([index | fmt << 2]) + text.encode()
                  for name, (index, fmt, text) in FILES.items()},
    }
    failures = 0
    for target, seeds in corpora.items():
        directory = HERE / "corpus" / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (directory / f"seed-{name}").write_bytes(data)
            if target not in targets.TARGETS:
                continue
            try:
                targets.TARGETS[target](data)  # a seed that fails is already a finding
            except Exception as exc:
                failures += 1
                print(f"{target}/seed-{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
