"""The SIP message model shared by the parser, correlation and rules.

Headers are *always* ordered lists, keyed by the lower-case full header name (compact forms
such as ``i`` → ``call-id`` folded, RFC 3261 §7.3.3). Parsing is lazy where it can be: the
start line and the header index are built once; digest headers are parsed on first access.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AuthHeader(enum.StrEnum):
    """The five headers of HTTP/SIP digest authentication, by their canonical names."""

    WWW_AUTHENTICATE = "WWW-Authenticate"
    PROXY_AUTHENTICATE = "Proxy-Authenticate"
    AUTHORIZATION = "Authorization"
    PROXY_AUTHORIZATION = "Proxy-Authorization"
    AUTHENTICATION_INFO = "Authentication-Info"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge from a WWW-Authenticate / Proxy-Authenticate header (RFC 7235, RFC 7616).

    ``params`` keeps every parameter with a lower-case name and its unquoted, unescaped value.
    ``qop_options`` is the split ``qop`` list; ``algorithm`` is as sent (None when absent, which
    RFC 7616 §3.3 says means MD5).
    """

    header: AuthHeader
    scheme: str  # as sent, e.g. "Digest", "Basic"
    params: tuple[tuple[str, str], ...]
    raw: str  # this challenge's text as it appeared in the header value
    realm: str | None = None
    nonce: str | None = None
    opaque: str | None = None
    algorithm: str | None = None
    qop_options: tuple[str, ...] = ()
    stale: bool = False
    domain: str | None = None

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Credentials:
    """One set of credentials from an Authorization / Proxy-Authorization header."""

    header: AuthHeader
    scheme: str
    params: tuple[tuple[str, str], ...]
    raw: str
    username: str | None = None
    realm: str | None = None
    nonce: str | None = None
    uri: str | None = None
    response: str | None = None
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    userhash: bool = False

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A malformed part of a message: becomes a Note (kind ``sip-malformed``) in the report."""

    kind: str
    detail: str
