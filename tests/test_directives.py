"""mod_wsgi directive strings: Apache's lexing, blocks, and mod_wsgi's value rules."""

from __future__ import annotations

import pathlib
import re

import pytest

from trustedproxy import ConfigError, TrustPolicy
from trustedproxy.loaders.directives import getword_conf, logical_lines, split_words

XFF = ("X-Forwarded-For",)


def load(text: str, **kwargs: str) -> TrustPolicy:
    return TrustPolicy.from_directives(text, source="t.conf", **kwargs)


class TestLexing:
    @pytest.mark.parametrize(("args", "words"), [
        pytest.param("a b\tc", ["a", "b", "c"], id="white space"),
        pytest.param('"a b" c', ["a b", "c"], id="double quotes"),
        pytest.param("'a b' c", ["a b", "c"], id="single quotes"),
        pytest.param(r'"a\"b"', ['a"b'], id="escaped quote"),
        pytest.param(r"'a\'b'", ["a'b"], id="escaped single quote"),
        pytest.param(r"a\\b", ["a\\b"], id="escaped backslash outside quotes"),
        pytest.param(r"a\b", ["a\\b"], id="lone backslash kept"),
        pytest.param('"a b', ["a b"], id="unterminated quote runs to the end"),
        pytest.param('"a"b', ["a", "b"], id="word after a closing quote"),
        pytest.param('a"b c"', ['a"b', 'c"'], id="quote inside a word is literal"),
        pytest.param('""', [""], id="empty quoted word"),
        pytest.param("", [], id="nothing"),
    ])
    def test_words(self, args: str, words: list[str]) -> None:
        """Arguments split into words as Apache's ap_getword_conf does."""
        assert split_words(args) == words

    def test_getword_position(self) -> None:
        """getword_conf returns the next word's position, white space skipped."""
        assert getword_conf("  one   two") == ("one", 8)

    def test_continuation(self) -> None:
        """A trailing backslash joins the next line and is dropped (after another backslash
        too, as Apache 2.4 reads it); one followed by white space does not continue."""
        text = "A b \\\n  c\nD \\\\\nE\r\nF \\ \nG"
        assert list(logical_lines(text)) == [(1, "A b   c"), (3, "D \\E"), (5, "F \\"),
                                             (6, "G")]

    def test_continued_directive(self) -> None:
        """A directive continued over lines collects all its words."""
        policy = load("WSGITrustedProxies 10.0.0.1 \\\n    10.0.0.2\n"
                      "WSGITrustedProxyHeaders X-Forwarded-For")
        assert policy.trusted_proxies == ("10.0.0.1", "10.0.0.2")

    def test_comment_lines_and_other_directives_ignored(self) -> None:
        """Comment lines and every other Apache directive are ignored."""
        policy = load("# WSGITrustedProxies 1.1.1.1\nServerName x\n"
                      "  WSGITrustedProxies 10.0.0.1\nWSGIDaemonProcess app\n"
                      "WSGITrustedProxyHeaders X-Forwarded-For\n")
        assert policy == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)

    def test_names_case_insensitive_and_repeats_append(self) -> None:
        """Directive names are case-insensitive and a repeated directive appends."""
        policy = load("wsgitrustedproxies 10.0.0.1\nWSGITRUSTEDPROXIES '10.0.0.2'\n"
                      "WsgiTrustedProxyHeaders x-forwarded-for\n"
                      'WSGITrustedProxyHeaders "X-Forwarded-Proto"\n')
        assert policy == TrustPolicy(trusted_proxies=["10.0.0.1", "10.0.0.2"],
                                     trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])

    def test_no_directives_is_the_empty_policy(self) -> None:
        """Text without trust directives is the policy that trusts nobody."""
        assert load("ServerName example.com\n") == TrustPolicy()


class TestValues:
    def test_compatibility_values_load_with_warnings(self) -> None:
        """What mod_wsgi accepts loads with its meaning, and a warning names the line."""
        policy = load("WSGITrustedProxies 127.0.0 10.0.0.1/8 192.168.0.0/255.255.0.0\n"
                      "WSGITrustedProxyHeaders X-Forwarded-For")
        assert policy.trusted_proxies == ("10.0.0.0/8", "127.0.0.0/24", "192.168.0.0/16")
        messages = [str(w) for w in policy.warnings()]
        assert any(m.startswith("t.conf:1: trusted proxy '127.0.0': partial IPv4 address "
                                "read as 127.0.0.0/24") for m in messages)
        assert any("host bits set: read as 10.0.0.0/8" in m for m in messages)
        assert any("dotted mask '255.255.0.0' read as /16" in m for m in messages)

    @pytest.mark.parametrize(("proxies", "message"), [
        pytest.param("2001:DB8::/32",
                     r"t.conf:1: WSGITrustedProxies: invalid trusted proxy '2001:DB8::/32': "
                     r"mod_wsgi rejects upper-case IPv6: write '2001:db8::/32'", id="upper v6"),
        pytest.param("::ffff:127.0.0.1", "mod_wsgi rejects IPv4-mapped IPv6 addresses",
                     id="mapped dotted"),
        pytest.param("::ffff:7f00:1", "mod_wsgi rejects IPv4-mapped IPv6 addresses",
                     id="mapped hex"),
        pytest.param("2001:db8::1.2.3.4", r"mod_wsgi rejects an IPv6 address with a dotted "
                                          r"IPv4 part: write it in hex, '2001:db8::102:304'",
                     id="embedded dotted v4"),
        pytest.param("::10.0.0.1", r"mod_wsgi rejects an IPv6 address with a dotted IPv4 "
                                   r"part: write it in hex, '::a00:1'$", id="v4-compatible"),
        pytest.param("::10.0.0.0/104", r"write it in hex, '::a00:0/104'$",
                     id="v4-compatible network"),
        pytest.param("0.0.0.0/0", r"mod_wsgi rejects a /0 mask.*write '0.0.0.0/1 128.0.0.0/1'",
                     id="v4 everything"),
        pytest.param("::/0", r"mod_wsgi rejects a /0 mask.*write '::/1 8000::/1'",
                     id="v6 everything"),
        pytest.param("10.0.0.1 # my proxy", "Apache has no comments after a directive",
                     id="inline comment"),
        pytest.param("private", r"invalid trusted proxy 'private': mod_wsgi does not know "
                                r"named ranges: write 'private' as '10.0.0.0/8 172.16.0.0/12 "
                                r"192.168.0.0/16 fc00::/7'", id="named range"),
        pytest.param("localhost", r"invalid trusted proxy 'localhost': not an IP address",
                     id="hostname"),
        pytest.param("1.2.3.4/33", "prefix length must be 0-32 for IPv4", id="mask too long"),
        pytest.param("10/8", "invalid trusted proxy '10/8'", id="partial with mask"),
        pytest.param("1.2.3.4/255.0.255.0", "is not contiguous", id="non-contiguous mask"),
        pytest.param("10.0.0.1,10.0.0.2", "split the value at its commas", id="comma"),
        pytest.param('""', "empty value", id="empty word"),
    ])
    def test_rejected_proxies(self, proxies: str, message: str) -> None:
        """Values mod_wsgi rejects are errors naming the line and the directive."""
        with pytest.raises(ConfigError, match=message) as info:
            load(f"WSGITrustedProxies {proxies}\nWSGITrustedProxyHeaders X-Forwarded-For")
        assert info.value.source == "t.conf:1"

    @pytest.mark.parametrize(("headers", "message"), [
        pytest.param("X_Forwarded_For", r"t.conf:2: WSGITrustedProxyHeaders: invalid header "
                                        r"name 'X_Forwarded_For': header names use '-'",
                     id="underscore (mod_wsgi crashes)"),
        pytest.param("X-Forwarded-For,X-Forwarded-Proto", "one header name per entry",
                     id="comma list (mod_wsgi crashes)"),
        pytest.param("X-Forwarded-Fro", r"unknown header 'X-Forwarded-Fro': did you mean "
                                        r"'X-Forwarded-For'\?", id="typo"),
        pytest.param("X-Forwarded-For X-Real-IP",
                     "'X-Real-IP' and 'X-Forwarded-For' are both in the client group",
                     id="two of a group"),
        pytest.param("X-Forwarded-For # the client", "Apache has no comments after a directive",
                     id="inline comment"),
    ])
    def test_rejected_headers(self, headers: str, message: str) -> None:
        """Header names mod_wsgi ignores or crashes on are errors naming the line."""
        with pytest.raises(ConfigError, match=message) as info:
            load(f"WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders {headers}")
        assert info.value.source == "t.conf:2"

    def test_headers_without_proxies(self) -> None:
        """Headers with no WSGITrustedProxies fail closed, naming the headers line."""
        with pytest.raises(ConfigError, match=r"t.conf:3: WSGITrustedProxyHeaders without "
                                              r"WSGITrustedProxies: mod_wsgi would then believe "
                                              r"these headers from every client"):
            load("\n\nWSGITrustedProxyHeaders X-Forwarded-For")

    @pytest.mark.parametrize("text", [
        pytest.param("WSGITrustedProxyHeaders X-Forwarded-For\n"
                     "# trustedproxy: trust_unix_socket on\n", id="server level"),
        pytest.param("# trustedproxy: trust_unix_socket on\n<Location /a>\n"
                     "WSGITrustedProxyHeaders X-Forwarded-For\n</Location>\n", id="in a block"),
    ])
    def test_headers_without_proxies_for_unix_socket_peers(self, text: str) -> None:
        """The trust_unix_socket comment line does not excuse a missing WSGITrustedProxies:
        Apache skips the comment and believes the headers from every client."""
        with pytest.raises(ConfigError, match=(
                r"^t.conf:\d: WSGITrustedProxyHeaders without WSGITrustedProxies: mod_wsgi "
                r"would then believe these headers from every client \('# trustedproxy: "
                r"trust_unix_socket on' at t.conf:\d is a comment to Apache and does not limit "
                r"them to Unix-socket peers\); add WSGITrustedProxies with your proxies' "
                r"addresses, or keep a policy that trusts Unix-socket peers only as YAML$")):
            load(text)

    def test_unix_socket_comment_with_proxies(self) -> None:
        """With WSGITrustedProxies in force, the trust_unix_socket comment line loads."""
        policy = load("WSGITrustedProxies 127.0.0.1\n# trustedproxy: trust_unix_socket on\n"
                      "<Location /a>\nWSGITrustedProxyHeaders X-Forwarded-For\n</Location>\n")
        assert policy == TrustPolicy(trusted_proxies=["127.0.0.1"], trust_unix_socket=True,
                                     trusted_headers=XFF)

    @pytest.mark.parametrize(("directive", "message"), [
        pytest.param("WSGITrustedProxies", "WSGITrustedProxies with no addresses", id="proxies"),
        pytest.param("WSGITrustedProxyHeaders", "WSGITrustedProxyHeaders with no header names",
                     id="headers"),
    ])
    def test_empty_directive(self, directive: str, message: str) -> None:
        """A trust directive without values is an error."""
        with pytest.raises(ConfigError, match=message):
            load(directive)

    def test_all_errors_together(self) -> None:
        """Every problem of the text is reported at once, in line order."""
        with pytest.raises(ConfigError) as info:
            load("WSGITrustedProxyHeaders X-Forwarded-Fro\nWSGITrustedProxies 10.0.0.0/33 ::FFFF")
        assert [p.source for p in info.value.problems] == ["t.conf:1", "t.conf:2", "t.conf:2"]


class TestOptions:
    def test_option_comments(self) -> None:
        """'# trustedproxy:' comment lines carry the options mod_wsgi has no directive for."""
        policy = load("WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
                      "# trustedproxy: script_name /myapp\n"
                      "#trustedproxy: strip_prefix_from_path On\n"
                      "# trustedproxy: trust_unix_socket off\n")
        assert policy.script_name == "/myapp"
        assert policy.strip_prefix_from_path is True
        assert policy.trust_unix_socket is False

    @pytest.mark.parametrize(("line", "message"), [
        pytest.param("# trustedproxy: script_nam /x",
                     r"t.conf:2: # trustedproxy: unknown option 'script_nam': did you mean "
                     r"'script_name'\?", id="unknown"),
        pytest.param("# trustedproxy: script_name", "script_name takes exactly one value",
                     id="no value"),
        pytest.param("# trustedproxy:", "needs an option name and a value", id="empty"),
        pytest.param("# trustedproxy: trust_unix_socket maybe",
                     r"trust_unix_socket: expected on or off, not 'maybe'", id="not a flag"),
        pytest.param("# trustedproxy: script_name /a/../b",
                     r"t.conf:2: # trustedproxy: script_name: invalid script_name",
                     id="bad prefix"),
        pytest.param("# trustedproxy: script_name /a\n# trustedproxy: script_name /b",
                     r"script_name is given twice in the server level \(first at line 2\)",
                     id="twice"),
    ])
    def test_option_errors(self, line: str, message: str) -> None:
        """Option comment lines are checked like directives."""
        with pytest.raises(ConfigError, match=message):
            load(f"WSGITrustedProxies 10.0.0.1\n{line}\nWSGITrustedProxyHeaders X-Forwarded-For")


VHOSTS = """\
<VirtualHost *:80>
    ServerName a.example
    WSGITrustedProxies 10.0.0.1
    WSGITrustedProxyHeaders X-Forwarded-For
</VirtualHost>
<VirtualHost *:443>
    WSGITrustedProxies 10.0.0.2
    <Location /api>
        WSGITrustedProxyHeaders X-Real-IP
    </Location>
</VirtualHost>
"""


class TestBlocks:
    def test_same_policy_in_every_block(self) -> None:
        """Blocks that agree give their policy without a selector."""
        text = VHOSTS.replace("10.0.0.2", "10.0.0.1").replace("X-Real-IP", "X-Forwarded-For")
        assert load(text) == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)

    def test_blocks_that_differ(self) -> None:
        """Blocks with different policies are an error asking which one is meant."""
        with pytest.raises(ConfigError, match=r"t.conf:8: the trust directives of "
                                              r"<VirtualHost \*:80> \(line 1\) and "
                                              r"<Location /api> \(line 8\) give different "
                                              r"policies: say which one is meant with "
                                              r"block='VirtualHost \*:80' or 'VirtualHost "
                                              r"\*:443 > Location /api'"):
            load(VHOSTS)

    @pytest.mark.parametrize(("block", "proxies", "headers"), [
        pytest.param("/api", ("10.0.0.2",), ("X-Real-IP",), id="argument alone"),
        pytest.param("<Location /api>", ("10.0.0.2",), ("X-Real-IP",), id="section text"),
        pytest.param("VirtualHost *:443 > Location /api", ("10.0.0.2",), ("X-Real-IP",),
                     id="path"),
        pytest.param("virtualhost *:80", ("10.0.0.1",), XFF, id="kind case-insensitive"),
        pytest.param("VirtualHost *:443", ("10.0.0.2",), (), id="block without headers"),
    ])
    def test_block_selector(self, block: str, proxies: tuple[str, ...],
                            headers: tuple[str, ...]) -> None:
        """block= selects one block; a block inherits what it does not set."""
        policy = load(VHOSTS, block=block)
        assert policy.trusted_proxies == proxies
        assert policy.trusted_headers == headers

    def test_location_inherits_server_proxies(self) -> None:
        """A block that sets only the headers uses the server-level proxies, as mod_wsgi
        merges the two directives independently."""
        text = ("WSGITrustedProxies 10.0.0.1\n<Location /app>\n"
                "WSGITrustedProxyHeaders X-Forwarded-For\n</Location>\n")
        assert load(text) == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)

    def test_transparent_sections(self) -> None:
        """<IfModule>/<IfDefine> do not scope directives (mod_wsgi-express emits them)."""
        text = ("<IfDefine MOD_WSGI_WITH_TRUSTED_PROXIES>\nWSGITrustedProxies 10.0.0.1\n"
                "</IfDefine>\n<IfModule mod_wsgi.c>\nWSGITrustedProxyHeaders X-Forwarded-For\n"
                "</IfModule>\n")
        assert load(text) == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)

    @pytest.mark.parametrize(("block", "message"), [
        pytest.param("/nope", r"block '/nope' matches no block; the blocks are: VirtualHost "
                              r"\*:80 \(line 1\)", id="no match"),
    ])
    def test_bad_selector(self, block: str, message: str) -> None:
        """A selector that matches no block lists the blocks."""
        with pytest.raises(ConfigError, match=message):
            load(VHOSTS, block=block)

    def test_ambiguous_selector(self) -> None:
        """A selector matching two blocks says so."""
        text = ("<VirtualHost a>\n<Location /x>\n</Location>\n</VirtualHost>\n"
                "<VirtualHost b>\n<Location /x>\n</Location>\n</VirtualHost>\n")
        with pytest.raises(ConfigError, match=r"block '/x' matches more than one block; the "
                                              r"blocks are: VirtualHost a > Location /x"):
            load(text, block="/x")

    @pytest.mark.parametrize(("text", "message"), [
        pytest.param("<Location /a>\n", r"t.conf:1: <Location> is never closed", id="unclosed"),
        pytest.param("<Location /a>\n</Directory>\n",
                     r"t.conf:2: expected </Location> \(opened at line 1\) but saw </Directory>",
                     id="mismatched"),
        pytest.param("</Location>\n", "closes a section that was never opened", id="stray"),
        pytest.param("<Location /a\n</Location>\n", "section line must end with '>'",
                     id="no bracket"),
    ])
    def test_structure_errors(self, text: str, message: str) -> None:
        """Broken section structure is an error naming the line."""
        with pytest.raises(ConfigError, match=message):
            load(text)


class TestSources:
    def test_path_object(self, tmp_path: pathlib.Path) -> None:
        """A path object is read as a file and named in messages."""
        path = tmp_path / "vhost.conf"
        path.write_text("WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-Fro\n")
        with pytest.raises(ConfigError, match=r"vhost.conf:2: WSGITrustedProxyHeaders: "
                                              r"unknown header"):
            TrustPolicy.from_directives(path)

    def test_missing_file(self, tmp_path: pathlib.Path) -> None:
        """A missing file is a ConfigError, not an OSError."""
        with pytest.raises(ConfigError, match="cannot read directives file: No such file"):
            TrustPolicy.from_directives(tmp_path / "none.conf")

    @pytest.mark.parametrize(("text", "reason"), [
        pytest.param("/no/such/trust.conf", "it holds a path separator", id="absolute"),
        pytest.param("conf\\trust", "it holds a path separator", id="backslash"),
        pytest.param("trust.conf", "it ends in a file extension", id="bare name"),
        pytest.param("trust.TXT\n", "it ends in a file extension", id="newline after"),
    ])
    def test_file_name_as_str_is_refused(self, text: str, reason: str) -> None:
        """A str is directive text; one that looks like a file name is refused rather than
        read as text without directives (an empty policy)."""
        word = text.strip()
        with pytest.raises(ConfigError, match=(
                rf"^<directives>: {re.escape(repr(word))} was read as directive text, not as a "
                rf"file \({reason}\): a str is the configuration itself; to load a file, pass "
                rf"a pathlib.Path \(TrustPolicy.from_directives\(pathlib.Path\("
                rf"{re.escape(repr(word))}\)\)\) or use TrustPolicy.from_file\("
                rf"{re.escape(repr(word))}\)$")) as info:
            TrustPolicy.from_directives(text)
        assert info.value.value == word

    def test_existing_file_name_as_str_is_refused(self, tmp_path: pathlib.Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """A str naming an existing file is refused, whatever its name; the same file
        given as a Path loads."""
        (tmp_path / "vhost").write_text("WSGITrustedProxies 10.0.0.1\n"
                                        "WSGITrustedProxyHeaders X-Forwarded-For\n")
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError, match=r"'vhost' was read as directive text, not as a "
                                              r"file \(it names an existing file\)"):
            TrustPolicy.from_directives("vhost", source="mine")
        assert TrustPolicy.from_directives(pathlib.Path("vhost")).trusted_proxies == (
            "10.0.0.1",)

    @pytest.mark.parametrize(("text", "proxies"), [
        ("WSGITrustedProxies 10.0.0.0/8", ("10.0.0.0/8",)), ("ServerName", ()),
        ("#/etc/apache2/trust.conf", ()), ("", ()),
    ])
    def test_one_line_text_is_still_text(self, text: str, proxies: tuple[str, ...]) -> None:
        """One-line directive text, a comment, or a lone word that is no file name is read
        as text, as before."""
        assert TrustPolicy.from_directives(text).trusted_proxies == proxies

    def test_lone_section_end_is_still_text(self) -> None:
        """'</Location>' holds a '/' but is read (and refused) as text, not as a path."""
        with pytest.raises(ConfigError, match=r"</Location> closes a section that was never "
                                              r"opened"):
            TrustPolicy.from_directives("</Location>")

    def test_default_source(self) -> None:
        """Text without a source is named <directives>."""
        with pytest.raises(ConfigError, match=r"^<directives>:1: WSGITrustedProxies"):
            TrustPolicy.from_directives("WSGITrustedProxies x")


def test_selector_without_blocks() -> None:
    """A selector on text without blocks says there are none."""
    with pytest.raises(ConfigError, match=r"block '/x' matches no block; the text has no "
                                          r"blocks"):
        load("WSGITrustedProxies 10.0.0.1\n", block="/x")


def test_server_selector() -> None:
    """block='server' picks the server level, whatever the blocks say."""
    policy = load("WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
                  "<Location /a>\nWSGITrustedProxyHeaders X-Real-IP\n</Location>\n",
                  block="server")
    assert policy.trusted_headers == ("X-Forwarded-For",)


def test_not_text() -> None:
    """Something that is neither text nor a path is a ConfigError."""
    with pytest.raises(ConfigError, match="directives must be text, not bytes"):
        TrustPolicy.from_directives(b"WSGITrustedProxies 10.0.0.1")  # type: ignore[arg-type]


def test_not_utf8(tmp_path: pathlib.Path) -> None:
    """A file that is not UTF-8 is a ConfigError naming it."""
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1.conf: not UTF-8 text: invalid"):
        TrustPolicy.from_directives(path)


def test_define_variables() -> None:
    """${NAME} in a trust directive takes the value of an earlier Define."""
    policy = load('Define PROXY 10.0.0.1\nDefine HEADERS "X-Forwarded-For X-Forwarded-Proto"\n'
                  "WSGITrustedProxies ${PROXY} 10.0.0.2\nWSGITrustedProxyHeaders ${HEADERS}\n")
    assert policy == TrustPolicy(trusted_proxies=["10.0.0.1", "10.0.0.2"],
                                 trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])


def test_undefined_variable() -> None:
    """A ${NAME} that the text does not Define is an error naming it."""
    with pytest.raises(ConfigError, match=r"t.conf:1: WSGITrustedProxies uses \$\{LB\}, which "
                                          r"this text does not Define: trustedproxy does not "
                                          r"read Apache's environment"):
        load("WSGITrustedProxies ${LB}\nWSGITrustedProxyHeaders X-Forwarded-For")


def test_variables_are_expanded_once() -> None:
    """Apache expands ${NAME} once, when it reads a line: ``Define A ${B}`` before
    B is defined gives A the text ``${B}``, which a later ``${A}`` does not expand
    again (``apache2 -t``: "Config variable ${B} is not defined", then the
    literal ``${B}``). A trust directive expanded twice trusted 10.0.0.9, which
    Apache never does; it is an error naming the name left unexpanded."""
    with pytest.raises(ConfigError, match=r"t.conf:3: WSGITrustedProxies uses \$\{B\}"):
        load("Define A ${B}\nDefine B 10.0.0.9\nWSGITrustedProxies ${A}\n"
             "WSGITrustedProxyHeaders X-Forwarded-For\n")
    # Expanded once, a value holding another defined name's value still works.
    assert load("Define B 10.0.0.9\nDefine A ${B}\nWSGITrustedProxies ${A}\n"
                "WSGITrustedProxyHeaders X-Forwarded-For\n").trusted_proxies == ("10.0.0.9",)


# --------------------------------------------------------------------------- review (s11)


@pytest.mark.parametrize(("text", "match"), [
    pytest.param("WSGITrustedProxy 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n",
                 r"^t.conf:1: unknown directive 'WSGITrustedProxy' \(Apache refuses to start "
                 r"on it\): did you mean WSGITrustedProxies\?$", id="proxies misspelt"),
    pytest.param("WSGITrustedProxies 10.0.0.1\n<IfModule mod_wsgi.c>\n"
                 "  wsgitrustedheaders X-Forwarded-For\n</IfModule>\n",
                 r"^t.conf:3: unknown directive 'wsgitrustedheaders' \(Apache refuses to start "
                 r"on it\): did you mean WSGITrustedProxyHeaders\?$", id="headers misspelt"),
])
def test_a_misspelt_trust_directive_is_an_error(text: str, match: str) -> None:
    """A misspelt trust directive was skipped as "some other directive", so the
    policy loaded without it (an empty policy, or proxies and no headers) with
    at most a warning; Apache refuses to start on it, and so do we."""
    with pytest.raises(ConfigError, match=match) as info:
        load(text)
    assert len(info.value.problems) == 1


@pytest.mark.parametrize("space", ["\u00a0", "\u2028", "\x85", "\x1c", "\u3000"])
def test_only_ascii_white_space_separates_words(space: str) -> None:
    """Apache splits words at C isspace() characters only: a no-break space
    (or U+2028, U+0085...) is part of the word. Python's str.isspace() split
    there, so 'X-Forwarded-For<NBSP>X-Real-IP' loaded two headers, and
    'WSGITrustedProxies<NBSP>10.0.0.1' a proxy, where Apache reads one word."""
    assert split_words(f"a{space}b c") == [f"a{space}b", "c"]
    word = re.escape(repr(f"X-Forwarded-For{space}X-Real-IP"))
    with pytest.raises(ConfigError, match=rf"^t.conf:2: WSGITrustedProxyHeaders: invalid header "
                                          rf"name {word}: a header name may hold only letters"):
        load(f"WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For{space}"
             "X-Real-IP\n")
    with pytest.raises(ConfigError, match=r"^t.conf:1: unknown directive 'WSGITrustedProxies"):
        load(f"WSGITrustedProxies{space}10.0.0.1\n")


@pytest.mark.parametrize("space", ["\v", "\f"])
def test_vertical_tab_and_form_feed_do_separate_words(space: str) -> None:
    """C isspace() includes vertical tab and form feed: they separate words, as in Apache."""
    assert load(f"WSGITrustedProxies 10.0.0.1{space}10.0.0.2\n") == TrustPolicy(
        trusted_proxies=["10.0.0.1", "10.0.0.2"])


def test_max_hops_of_thousands_of_digits() -> None:
    """'# trustedproxy: max_hops 999...' with more digits than int() converts
    was a ValueError out of the loader; it is the usual max_hops error."""
    with pytest.raises(ConfigError, match=r"^t.conf:2: # trustedproxy: max_hops: max_hops must be "
                                          r"a whole number from 1 to 1024, not '9{5000}'$"):
        load("WSGITrustedProxies 10.0.0.1\n# trustedproxy: max_hops " + "9" * 5000 + "\n")


@pytest.mark.parametrize(("text", "line"), [
    ("\ufeffWSGITrustedProxies 10.0.0.1\r\n\r\nWSGITrustedProxyHeaders X_Bad\r\n", 3),
    ("WSGITrustedProxies 10.0.0.1 \\\r\n  10.0.0.2\r\n# c\r\nWSGITrustedProxyHeaders X_Bad\r\n", 4),
    ("<IfModule mod_wsgi.c>\n\t<VirtualHost *:80>\n\t\tWSGITrustedProxies 10.0.0.1\n"
     "\t\tWSGITrustedProxyHeaders \\\n\t\t\tX-Forwarded-For \\\n\t\t\tX_Bad\n"
     "\t</VirtualHost>\n</IfModule>\n", 4),
])
def test_error_lines_with_crlf_bom_tabs_continuations_and_nesting(
        tmp_path: pathlib.Path, text: str, line: int) -> None:
    """The line named is the one an editor shows (a continued directive: its
    first line), whatever the line endings, BOM, tabs or section nesting; from
    a file as from text."""
    match = rf"t.conf:{line}: WSGITrustedProxyHeaders: invalid header name 'X_Bad'"
    with pytest.raises(ConfigError, match="^" + match):
        load(text.removeprefix("\ufeff"))
    path = tmp_path / "t.conf"
    path.write_bytes(text.encode("utf-8-sig" if text.startswith("\ufeff") else "utf-8")
                     .replace(b"\xef\xbb\xbf\xef\xbb\xbf", b"\xef\xbb\xbf"))
    with pytest.raises(ConfigError, match=match):
        TrustPolicy.from_file(path)


# --------------------------------------------------------------------------- review (s12)


@pytest.mark.parametrize(("word", "match"), [
    pytest.param("010", r"'010' has a leading zero \(octal to some readers, 8 in YAML 1\.1\): "
                        r"write it without, in plain decimal digits", id="leading zero"),
    pytest.param("0x10", r"max_hops must be a whole number from 1 to 1024, not '0x10'", id="hex"),
    pytest.param("+5", r"max_hops must be a whole number from 1 to 1024, not '\+5'", id="sign"),
    pytest.param("1_000", r"max_hops must be a whole number from 1 to 1024, not '1_000'",
                 id="separators"),
])
def test_max_hops_only_in_plain_decimal(word: str, match: str) -> None:
    """'# trustedproxy: max_hops 010' loaded as 10, where YAML 1.1 reads 010
    as 8: as in YAML, only plain decimal digits are a number of hops."""
    with pytest.raises(ConfigError, match=r"^t.conf:2: # trustedproxy: max_hops: " + match):
        load(f"WSGITrustedProxies 10.0.0.1\n# trustedproxy: max_hops {word}\n")
    assert load("WSGITrustedProxies 10.0.0.1\n# trustedproxy: max_hops 10\n").max_hops == 10


NOT_WSGI = ("WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
            "<IfModule {negated}>\n"
            "  # mod_wsgi is not loaded: serve a maintenance page\n"
            "  WSGITrustedProxies 0.0.0.0/1 128.0.0.0/1\n"
            "  WSGITrustedProxyHeaders X-Real-IP\n"
            "  # trustedproxy: script_name /down\n"
            "  Define NAME value\n"
            "</IfModule>\n")


@pytest.mark.parametrize("negated", ["!mod_wsgi.c", "!wsgi_module"])
def test_a_negated_mod_wsgi_block_is_skipped(negated: str) -> None:
    """Apache reads <IfModule !mod_wsgi.c> (or !wsgi_module) only when mod_wsgi is
    not loaded, and then no WSGI directive applies: its contents were read as if
    they applied (here: trusting every address, and a second client header).
    They are skipped, with a warning for each trust line skipped."""
    policy = load(NOT_WSGI.format(negated=negated))
    assert policy == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)
    notes = [str(w) for w in policy.warnings()]
    assert notes == [
        f"t.conf:5: WSGITrustedProxies is inside <IfModule {negated}> (line 3), which Apache "
        "skips when mod_wsgi is loaded: not read",
        f"t.conf:6: WSGITrustedProxyHeaders is inside <IfModule {negated}> (line 3), which "
        "Apache skips when mod_wsgi is loaded: not read",
        f"t.conf:7: # trustedproxy: script_name is inside <IfModule {negated}> (line 3), which "
        "Apache skips when mod_wsgi is loaded: not read"]


@pytest.mark.parametrize(("text", "policy"), [
    pytest.param("<VirtualHost *:80>\nWSGITrustedProxies 10.0.0.1\n<IfModule !mod_wsgi.c>\n"
                 "<Location /x>\nWSGITrustedProxyHeaders X-Real-IP\n</Location>\n</IfModule>\n"
                 "WSGITrustedProxyHeaders X-Forwarded-For\n</VirtualHost>\n",
                 TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF),
                 id="a block inside, inside a virtual host"),
    pytest.param("<IfModule !wsgi_module>\n<IfModule !mod_wsgi.c>\n<IfModule mod_wsgi.c>\n"
                 "WSGITrustedProxies 10.0.0.9\n</IfModule>\n</IfModule>\n"
                 "WSGITrustedProxyHeaders X-Real-IP\n</IfModule>\n"
                 "WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n",
                 TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF),
                 id="nested negated and positive"),
    pytest.param("<IfModule mod_wsgi.c>\nWSGITrustedProxies 10.0.0.1\n<IfModule !mod_wsgi.c>\n"
                 "WSGITrustedProxies 10.0.0.9\n</IfModule>\nWSGITrustedProxyHeaders "
                 "X-Forwarded-For\n</IfModule>\n",
                 TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF),
                 id="inside a positive one"),
    pytest.param("<IfModule !mod_ssl.c>\nWSGITrustedProxies 10.0.0.1\n</IfModule>\n"
                 "<IfModule !MOD_WSGI.C>\nWSGITrustedProxyHeaders X-Forwarded-For\n"
                 "</IfModule>\n<IfModule !mod_wsgi.cc>\nWSGITrustedProxies 10.0.0.2\n"
                 "</IfModule>\n<IfModule !x mod_wsgi.c>\nWSGITrustedProxies 10.0.0.3\n"
                 "</IfModule>\n<IfModule \"mod_wsgi.c\">\nWSGITrustedProxies 10.0.0.4\n"
                 "</IfModule>\n",
                 TrustPolicy(trusted_proxies=["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
                             trusted_headers=XFF),
                 id="other modules and names Apache finds no module by"),
    pytest.param("WSGITrustedProxies 10.0.0.1\nWSGITrustedProxyHeaders X-Forwarded-For\n"
                 "<IfModule !mod_wsgi.c >\nWSGITrustedProxies 10.0.0.5\n</IfModule>\n"
                 "<IfModule ! mod_wsgi.c>\nWSGITrustedProxies 10.0.0.6\n</IfModule>\n"
                 "<IfModule !\"mod_wsgi.c\">\nWSGITrustedProxies 10.0.0.7\n</IfModule>\n"
                 "<IfModule !'wsgi_module' other>\nWSGITrustedProxies 10.0.0.8\n</IfModule>\n"
                 "<IfModule \"!mod_wsgi.c\">\nWSGITrustedProxies 10.0.0.9\n</IfModule>\n",
                 TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF),
                 id="spaces, quotes and later words, as Apache reads them"),
])
def test_negated_mod_wsgi_blocks_nest(text: str, policy: TrustPolicy) -> None:
    """Whatever is nested in a negated mod_wsgi block is skipped (blocks, positive
    IfModule, more negated ones), and such a block is skipped wherever it is.
    Apache 2.4 (checked with ``apache2 -t`` and mod_version, 2.4.71) reads the
    argument as '!' then its first word, quotes removed, and compares that name
    exactly: so '!mod_wsgi.c ' and '! "mod_wsgi.c"' are skipped, and '!MOD_WSGI.C',
    '!mod_wsgi.cc' and '!x mod_wsgi.c' are read, as are other negated modules."""
    assert load(text) == policy


def test_a_skipped_block_must_still_nest() -> None:
    """Apache checks the nesting of sections it skips: so does the reader."""
    with pytest.raises(ConfigError, match=r"(?m)^t.conf:3: expected </Location> \(opened at "
                                          r"line 2\) "
                                          r"but saw </IfModule>"):
        load("<IfModule !mod_wsgi.c>\n<Location /x>\n</IfModule>\n")
    with pytest.raises(ConfigError, match=r"^t.conf:1: <IfModule> is never closed"):
        load("<IfModule !mod_wsgi.c>\nWSGITrustedProxies 10.0.0.1\n")


def test_a_block_in_a_skipped_section_cannot_be_chosen() -> None:
    """--block lists only the blocks Apache reads."""
    with pytest.raises(ConfigError, match=r"block '/x' matches no block; the blocks are: "
                                          r"Location /y \(line 5\)$"):
        load("<IfModule !mod_wsgi.c>\n<Location /x>\n</Location>\n</IfModule>\n"
             "<Location /y>\n</Location>\n", block="/x")


@pytest.mark.parametrize("directive", ["Include", "IncludeOptional", "include"])
def test_include_is_not_followed_and_says_so(directive: str) -> None:
    """An Include line is not followed (Apache reads a relative path from
    ServerRoot, which the text does not say): a warning names the line and the
    file, so a policy that lives in the included file is not taken for none."""
    policy = load(f"<VirtualHost *:80>\n  {directive} conf.d/proxy.conf\n"
                  "  WSGITrustedProxies 10.0.0.1\n  WSGITrustedProxyHeaders X-Forwarded-For\n"
                  f"</VirtualHost>\n<IfModule !mod_wsgi.c>\n  {directive} down.conf\n"
                  "</IfModule>\n")
    assert policy == TrustPolicy(trusted_proxies=["10.0.0.1"], trusted_headers=XFF)
    assert [str(w) for w in policy.warnings()] == [
        f"t.conf:2: {directive} 'conf.d/proxy.conf' is not followed: trust directives in the "
        "included file are not read here; check that file as well "
        "(trustedproxy check FILE...)"]
    empty = load(f"{directive} \"/etc/apache2/wsgi trust.conf\"\n")
    assert [str(w) for w in empty.warnings()][-1] == (
        f"t.conf:1: {directive} '/etc/apache2/wsgi trust.conf' is not followed: trust "
        "directives in the included file are not read here; check that file as well "
        "(trustedproxy check FILE...)")
