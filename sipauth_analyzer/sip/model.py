"""The SIP message model shared by the parser, correlation and rules.

Headers are *always* ordered lists, keyed by the lower-case full header name (compact forms
such as ``i`` → ``call-id`` folded, RFC 3261 §7.3.3). Parsing is lazy where it can be: the
start line and the header index are built once; digest headers are parsed on first access.

``Challenge`` and ``Credentials`` are kept alive with their message until the report, one or
more per auth header of every message of a storm, so they are built for size: slotted, holding
the fields callers read, and deriving the full parameter list (``params``, read only by the
rare ``param()`` lookup) from ``raw`` on demand instead of storing it. They behave as frozen
dataclasses do: assignment raises ``FrozenInstanceError``; equality, hashing and ``repr``
cover the public fields in constructor order.
"""

from __future__ import annotations

import enum
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, ClassVar, NoReturn


class AuthHeader(enum.StrEnum):
    """The five headers of HTTP/SIP digest authentication, by their canonical names."""

    WWW_AUTHENTICATE = "WWW-Authenticate"
    PROXY_AUTHENTICATE = "Proxy-Authenticate"
    AUTHORIZATION = "Authorization"
    PROXY_AUTHORIZATION = "Proxy-Authorization"
    AUTHENTICATION_INFO = "Authentication-Info"


class _AuthValue:
    """What ``Challenge`` and ``Credentials`` share: immutability, value semantics, ``params``.

    ``_params`` holds the parameter tuple, or None when ``raw`` is a value the digest parser's
    fast path accepts whole: the tuple is then re-derived from ``raw`` on each access (a few
    microseconds), which saves ~600 bytes per object on the hot path that never asks for it.
    """

    __slots__ = ()

    #: The public fields, in constructor order: what ``==``, ``hash`` and ``repr`` look at.
    _FIELDS: ClassVar[tuple[str, ...]]
    _params: tuple[tuple[str, str], ...] | None
    raw: str

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def params(self) -> tuple[tuple[str, str], ...]:
        """Every parameter: lower-case name and unquoted, unescaped value, in header order."""
        if self._params is not None:
            return self._params
        # Imported here: digest.py builds these objects, so a top-level import is circular.
        from sipauth_analyzer.sip.digest import params_of_fast_path_value

        return params_of_fast_path_value(self.raw)

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    def _field_values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _AuthValue)
        return self._field_values() == other._field_values()

    def __hash__(self) -> int:
        return hash(self._field_values())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in zip(self._FIELDS, self._field_values(), strict=True)
        )
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> tuple[type[_AuthValue], tuple[Any, ...]]:
        # copy.copy and copy.deepcopy rebuild through the constructor, which takes the public
        # fields in _FIELDS order.
        return (self.__class__, self._field_values())


class Challenge(_AuthValue):
    """One challenge from a WWW-Authenticate / Proxy-Authenticate header (RFC 7235, RFC 7616).

    ``params`` keeps every parameter with a lower-case name and its unquoted, unescaped value.
    ``qop_options`` is the split ``qop`` list; ``algorithm`` is as sent (None when absent, which
    RFC 7616 §3.3 says means MD5).
    """

    __slots__ = (
        "_params", "algorithm", "domain", "header", "nonce", "opaque", "qop_options", "raw",
        "realm", "scheme", "stale",
    )  # fmt: skip
    _FIELDS = __match_args__ = (
        "header", "scheme", "params", "raw", "realm", "nonce", "opaque", "algorithm",
        "qop_options", "stale", "domain",
    )  # fmt: skip

    header: AuthHeader
    scheme: str  # as sent, e.g. "Digest", "Basic"
    raw: str  # this challenge's text as it appeared in the header value
    realm: str | None
    nonce: str | None
    opaque: str | None
    algorithm: str | None
    qop_options: tuple[str, ...]
    stale: bool
    domain: str | None

    def __new__(  # noqa: PLR0917 - the dataclass-style constructor it always had
        cls,
        header: AuthHeader,
        scheme: str,
        params: tuple[tuple[str, str], ...] | None,
        raw: str,
        realm: str | None = None,
        nonce: str | None = None,
        opaque: str | None = None,
        algorithm: str | None = None,
        qop_options: tuple[str, ...] = (),
        stale: bool = False,
        domain: str | None = None,
    ) -> Challenge:
        """``params=None`` (digest.py's fast path) means "derive ``params`` from ``raw``"."""
        # Filled in as a draft, whose plain slot stores cost a quarter of the
        # object.__setattr__ calls a frozen class needs, then given its real class: CPython
        # allows the __class__ assignment because the draft adds no slots (same layout).
        draft: Challenge = object.__new__(_ChallengeDraft)
        draft.header = header
        draft.scheme = scheme
        draft._params = params
        draft.raw = raw
        draft.realm = realm
        draft.nonce = nonce
        draft.opaque = opaque
        draft.algorithm = algorithm
        draft.qop_options = qop_options
        draft.stale = stale
        draft.domain = domain
        draft.__class__ = cls
        return draft


class _ChallengeDraft(Challenge):
    """A Challenge being filled in by ``Challenge.__new__``: assignable, same layout."""

    __slots__ = ()
    # Both, or CPython keeps the slow Python-level attribute hook that __delattr__ needs.
    __setattr__ = object.__setattr__  # type: ignore[assignment]
    __delattr__ = object.__delattr__  # type: ignore[assignment]


class Credentials(_AuthValue):
    """One set of credentials from an Authorization / Proxy-Authorization header."""

    __slots__ = (
        "_params", "algorithm", "cnonce", "header", "nc", "nonce", "opaque", "qop", "raw",
        "realm", "response", "scheme", "uri", "userhash", "username",
    )  # fmt: skip
    _FIELDS = __match_args__ = (
        "header", "scheme", "params", "raw", "username", "realm", "nonce", "uri", "response",
        "algorithm", "cnonce", "opaque", "qop", "nc", "userhash",
    )  # fmt: skip

    header: AuthHeader
    scheme: str
    raw: str
    username: str | None
    realm: str | None
    nonce: str | None
    uri: str | None
    response: str | None
    algorithm: str | None
    cnonce: str | None
    opaque: str | None
    qop: str | None
    nc: str | None
    userhash: bool

    def __new__(  # noqa: PLR0917 - the dataclass-style constructor it always had
        cls,
        header: AuthHeader,
        scheme: str,
        params: tuple[tuple[str, str], ...] | None,
        raw: str,
        username: str | None = None,
        realm: str | None = None,
        nonce: str | None = None,
        uri: str | None = None,
        response: str | None = None,
        algorithm: str | None = None,
        cnonce: str | None = None,
        opaque: str | None = None,
        qop: str | None = None,
        nc: str | None = None,
        userhash: bool = False,
    ) -> Credentials:
        """``params=None`` (digest.py's fast path) means "derive ``params`` from ``raw``"."""
        draft: Credentials = object.__new__(_CredentialsDraft)  # see Challenge.__new__
        draft.header = header
        draft.scheme = scheme
        draft._params = params
        draft.raw = raw
        draft.username = username
        draft.realm = realm
        draft.nonce = nonce
        draft.uri = uri
        draft.response = response
        draft.algorithm = algorithm
        draft.cnonce = cnonce
        draft.opaque = opaque
        draft.qop = qop
        draft.nc = nc
        draft.userhash = userhash
        draft.__class__ = cls
        return draft


class _CredentialsDraft(Credentials):
    """A Credentials being filled in by ``Credentials.__new__``: assignable, same layout."""

    __slots__ = ()
    # Both, or CPython keeps the slow Python-level attribute hook that __delattr__ needs.
    __setattr__ = object.__setattr__  # type: ignore[assignment]
    __delattr__ = object.__delattr__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A malformed part of a message: becomes a Note (kind ``sip-malformed``) in the report."""

    kind: str
    detail: str
