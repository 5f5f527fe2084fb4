"""Which ``<IfModule ...>`` blocks hold trust directives that apply: the
directive reader against the real Apache, with the real mod_wsgi loaded.

For each way of writing the block's argument, ``apache2 -t`` tells whether
Apache reads the block (an unknown directive inside it is then an error) or
skips it (the configuration is fine); ``from_directives`` must read the trust
line inside the same block exactly when Apache does. (A block for a module
other than mod_wsgi is read as if that module were loaded, since the text does
not say which are: so only negated blocks and blocks naming mod_wsgi, however
written, are compared here.)
"""

from __future__ import annotations

import pytest
from realservers import apache_config_test

from trustedproxy import ConfigError, TrustPolicy

pytestmark = [pytest.mark.realserver, pytest.mark.differential]

ARGUMENTS = [
    "mod_wsgi.c", "wsgi_module", "!mod_wsgi.c", "!wsgi_module",
    "!mod_wsgi.c ", "! mod_wsgi.c", '!"mod_wsgi.c"', "!'wsgi_module'", '"!mod_wsgi.c"',
    "!mod_wsgi.c other", "!other mod_wsgi.c", "!MOD_WSGI.C", "!mod_wsgi.cc", "!mod_wsgi",
    '"mod_wsgi.c"', "mod_wsgi.c ", "!mod_ssl.c", "!mod_nonexistent.c", '"!wsgi_module" x',
    "'!mod_wsgi.c'", '!"mod_wsgi.c',
    # a quoted word starting with '!' names no module (session-12 review)
    '"! mod_wsgi.c"', '"!mod_wsgi.c>"', '"!mod_ssl.c"', "'!' mod_wsgi.c",
]


def apache_reads(argument: str) -> bool:
    """Whether Apache, with mod_wsgi loaded, reads ``<IfModule argument>``."""
    check = apache_config_test(f"<IfModule {argument}>\nNoSuchDirectiveHere\n</IfModule>\n")
    if check.accepted:
        return False
    assert "NoSuchDirectiveHere" in check.output, check.output  # and for no other reason
    return True


@pytest.mark.parametrize("argument", ARGUMENTS)
def test_ifmodule_blocks_read_as_apache_reads_them(argument: str) -> None:
    """Invariant: a trust directive inside ``<IfModule argument>`` is read by
    ``from_directives`` exactly when the real Apache reads that block."""
    policy = TrustPolicy.from_directives(
        "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
        f"<IfModule {argument}>\nWSGITrustedProxies 10.0.0.9\n</IfModule>\n")
    read = "10.0.0.9" in policy.trusted_proxies
    assert read == apache_reads(argument), (argument, policy)


@pytest.mark.parametrize("value", ["!mod_wsgi.c", "mod_wsgi.c", "!wsgi_module"])
def test_ifmodule_named_by_a_define_reads_as_apache_reads(value: str) -> None:
    """Invariant: Apache expands ``${M}`` before it reads the section line, so
    ``<IfModule ${M}>`` after ``Define M value`` is read exactly when
    ``<IfModule value>`` is, by Apache and by ``from_directives``."""
    check = apache_config_test(f"Define M {value}\n<IfModule ${{M}}>\nNoSuchDirectiveHere\n"
                               "</IfModule>\n")
    policy = TrustPolicy.from_directives(
        "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
        f"Define M {value}\n<IfModule ${{M}}>\nWSGITrustedProxies 10.0.0.9\n</IfModule>\n")
    assert ("10.0.0.9" in policy.trusted_proxies) == (not check.accepted) == apache_reads(value)



@pytest.mark.parametrize(("defines", "apache_accepts"), [
    ("Define A ${B}\nDefine B 10.0.0.9\n", False),  # A is the text ${B}
    ("Define B 10.0.0.9\nDefine A ${B}\n", True),   # A is 10.0.0.9
])
def test_variables_are_expanded_once_as_apache_does(defines: str, apache_accepts: bool) -> None:
    """Invariant: Apache expands ``${NAME}`` once, when it reads a line, so a
    Define that names a variable not yet defined holds that text, and mod_wsgi
    refuses ``WSGITrustedProxies ${A}``; ``from_directives`` refuses it too, and
    loads the same line when the variable was defined first."""
    text = defines + "WSGITrustedProxies ${A}\nWSGITrustedProxyHeaders X-Forwarded-For\n"
    check = apache_config_test(text)
    assert check.accepted == apache_accepts, check.output
    if apache_accepts:
        assert TrustPolicy.from_directives(text).trusted_proxies == ("10.0.0.9",)
    else:
        assert '"${B}"' in check.output, check.output
        with pytest.raises(ConfigError, match=r"WSGITrustedProxies uses \$\{B\}"):
            TrustPolicy.from_directives(text)
