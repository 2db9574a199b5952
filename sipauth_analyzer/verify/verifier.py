"""The verdict engine: recompute every captured digest response from the known credentials.

For each request carrying digest credentials (every attempt of every auth exchange, and ACKs /
CANCELs that carry them) the response is recomputed — MD5, SHA-256, SHA-512-256, each plain or
``-sess`` (RFC 7616 §3.4.2, RFC 8760); no qop (RFC 2069), ``qop=auth`` and ``qop=auth-int``
(RFC 7616 §3.4.3: H(entity-body) of the captured body); ``userhash`` (RFC 7616 §3.4.4) — with
the request's own method and the credentials' ``uri`` value (RFC 3261 §22.4: A2 is
``Method ":" digest-uri-value``), then the known password is bent in the ways field guides warn
about until something matches, which names the mistake:

1. exact match → ``verified`` — unless the realm differs from the challenge's
   (``realm-mismatch``), the request was refused with a nonce that was stale or not the latest
   (``stale-nonce``), or refused with a digest uri other than the Request-URI (``uri-mismatch``);
2. another realm or the Request-URI as uri → ``realm-mismatch`` / ``uri-mismatch``;
3. a whitespace / letter-case / typographic-quote variant of the password → ``near-miss``;
4. another known user's password under the username sent → ``wrong-username`` when the
   username is unknown (a typo in the auth user), else ``wrong-password`` naming whose it is;
5. otherwise ``unknown-user`` (nothing known for that username) or ``wrong-password``.

No detail line ever contains a password, a variant's text, or the response value.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import FLAG_TRUNCATED
from sipauth_analyzer.correlate.model import AuthExchange, Correlation, Transaction
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink
from sipauth_analyzer.sip.digest import (
    DigestComputationError,
    compute_ha1,
    compute_ha2,
    compute_response,
    digest_hash,
    digest_only,
    is_digest,
    is_supported_algorithm,
    userhash,
)
from sipauth_analyzer.sip.message import SipMessage
from sipauth_analyzer.sip.model import AuthHeader, Challenge, Credentials
from sipauth_analyzer.verify.credentials import KnownCredential
from sipauth_analyzer.verify.model import Verdict, Verification, Verifications, VerifyOptions

# RFC 3261 §22.2 / §22.3: which challenge header a credentials header answers.
_CHALLENGE_HEADER: dict[AuthHeader, AuthHeader] = {
    AuthHeader.AUTHORIZATION: AuthHeader.WWW_AUTHENTICATE,
    AuthHeader.PROXY_AUTHORIZATION: AuthHeader.PROXY_AUTHENTICATE,
}
_REFUSED = frozenset({401, 403, 407})
# Verdicts that prove the known password reproduces the response.
_PASSWORD_RIGHT = frozenset(
    {Verdict.VERIFIED, Verdict.REALM_MISMATCH, Verdict.URI_MISMATCH, Verdict.STALE_NONCE}
)
# Typographic quotes that word processors, chat apps and PDF manuals substitute (U+2018/2019,
# U+201C/201D): a password copied from them differs from the one typed.
_STRAIGHTEN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def canonical_algorithm(value: str | None) -> str:
    """Upper-case algorithm token; absent means MD5 (RFC 7616 §3.3)."""
    return (value or "MD5").strip().upper()


def _base_algorithm(algorithm: str) -> str:
    return algorithm[: -len("-SESS")] if algorithm.endswith("-SESS") else algorithm


def _curl(text: str, single_open: str) -> str:
    """Straight quotes made typographic the way autocorrect does: double quotes alternate
    opening/closing; single quotes become ``single_open`` when opening, else ’."""
    out: list[str] = []
    double_open = True
    single_is_open = True
    for char in text:
        if char == '"':
            out.append("\u201c" if double_open else "\u201d")
            double_open = not double_open
        elif char == "'":
            out.append(single_open if single_is_open else "\u2019")
            single_is_open = not single_is_open
        else:
            out.append(char)
    return "".join(out)


def near_miss_variants(password: str) -> Iterator[tuple[str, str]]:
    """(name, text) of the copy-paste mistakes worth trying, without repeats or the original.

    Names say which mistake, never the text, so they can be shown to anyone.
    """
    candidates = (
        ("a trailing space", password + " "),
        ("a leading space", " " + password),
        ("a trailing newline", password + "\n"),
        ("a trailing CR LF", password + "\r\n"),
        ("a leading newline", "\n" + password),
        ("a trailing tab", password + "\t"),
        ("a leading tab", "\t" + password),
        ("surrounding whitespace removed", password.strip()),
        ("all upper case", password.upper()),
        ("all lower case", password.lower()),
        ("letter case inverted (Caps Lock)", password.swapcase()),
        ("the first letter capitalised", password.capitalize()),
        ("typographic quotes replaced by straight ones", password.translate(_STRAIGHTEN)),
        ("straight quotes replaced by typographic ones", _curl(password, "\u2018")),
        ("apostrophes replaced by typographic ones", _curl(password, "\u2019")),
    )
    seen = {password}
    for name, text in candidates:
        if text not in seen:
            seen.add(text)
            yield name, text


def decoded_username(credentials: Credentials) -> str | None:
    """``username``, or the RFC 7616 §3.4.4 / RFC 8187 extended ``username*`` decoded."""
    if credentials.username is not None:
        return credentials.username
    extended = credentials.param("username*")
    if extended is None:
        return None
    charset, _, rest = extended.partition("'")
    _, _, encoded = rest.partition("'")
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


@dataclass(slots=True)
class ResponseCheck:
    """Everything one set of credentials fixes, so each candidate HA1 costs one or two hashes.

    ``matches(base_ha1, method, uri)`` recomputes the response for a non-session
    ``H(username:realm:password)``; the ``-sess`` step (RFC 7616 §3.4.2) happens here.
    """

    algorithm: str  # canonical, e.g. "SHA-256-SESS"
    nonce: str
    nc: str | None
    cnonce: str | None
    qop: str | None  # as sent
    response: str  # lower-case hex
    body: bytes = b""
    _ha2: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def session(self) -> bool:
        return self.algorithm.endswith("-SESS")

    @property
    def base_algorithm(self) -> str:
        return _base_algorithm(self.algorithm)

    def base_ha1(self, username: str, realm: str, password: str) -> str:
        return compute_ha1(self.base_algorithm, username, realm, password)

    def matches(self, base_ha1: str, method: str, uri: str) -> bool:
        ha1 = base_ha1
        if self.session:
            # RFC 7616 §3.4.2: H(H(user:realm:password) ":" nonce ":" cnonce).
            material = f"{base_ha1}:{self.nonce}:{self.cnonce or ''}"
            ha1 = digest_hash(self.algorithm, material.encode("utf-8", "surrogateescape"))
        key = (method, uri)
        ha2 = self._ha2.get(key)
        if ha2 is None:
            ha2 = compute_ha2(self.algorithm, method, uri, self.qop, self.body)
            self._ha2[key] = ha2
        try:
            expected = compute_response(
                self.algorithm, ha1, self.nonce, self.nc, self.cnonce, self.qop, ha2
            )
        except DigestComputationError:
            return False
        return expected == self.response


@dataclass(frozen=True, slots=True)
class Unverifiable:
    """Why credentials cannot be recomputed; ``rfc2069`` is the same digest read without its
    (incomplete) qop, which can still say whether the password was right."""

    reason: str
    rfc2069: ResponseCheck | None = None


def body_truncated(message: SipMessage) -> bool:
    """The captured body is shorter than Content-Length says (snap length, lost segment)."""
    if FLAG_TRUNCATED in message.source.flags:
        return True
    declared = message.first("content-length")
    if declared is None:
        return False
    try:
        return int(declared.strip()) > len(message.body)
    except ValueError:
        return False


def response_check(message: SipMessage, credentials: Credentials) -> ResponseCheck | Unverifiable:
    """The fixed part of ``credentials``' digest, or why it cannot be recomputed."""
    algorithm = canonical_algorithm(credentials.algorithm)
    if algorithm.startswith("AKA"):
        return Unverifiable(
            f"algorithm {algorithm} (RFC 3310 / 3GPP AKA): the secret is derived from the "
            "SIM's key, not from a password"
        )
    if not is_supported_algorithm(algorithm):
        return Unverifiable(f"unsupported digest algorithm {credentials.algorithm!r}")
    missing = [
        name
        for name, value in (
            ("username", decoded_username(credentials)),
            ("realm", credentials.realm),
            ("nonce", credentials.nonce),
            ("uri", credentials.uri),
            ("response", credentials.response),
        )
        if value is None
    ]
    if missing:
        return Unverifiable(f"missing digest parameter(s): {', '.join(missing)}")
    qop = credentials.qop.strip() if credentials.qop is not None else None
    if qop is not None and qop.lower() not in ("auth", "auth-int"):
        return Unverifiable(f"unknown qop {qop!r} (RFC 7616 §3.3 defines auth and auth-int)")
    if qop is not None and (credentials.nc is None or credentials.cnonce is None):
        assert credentials.nonce is not None and credentials.response is not None
        return Unverifiable(
            f"qop={qop} without nc and cnonce (RFC 7616 §3.4 requires both): malformed, no "
            "server can verify it",
            rfc2069=ResponseCheck(
                algorithm=algorithm,
                nonce=credentials.nonce,
                nc=None,
                cnonce=credentials.cnonce,
                qop=None,
                response=credentials.response.strip().lower(),
            ),
        )
    if algorithm.endswith("-SESS") and credentials.cnonce is None:
        return Unverifiable(f"{algorithm} without a cnonce (RFC 7616 §3.4.2 needs it for H(A1))")
    body = b""
    if qop is not None and qop.lower() == "auth-int":
        if body_truncated(message):
            return Unverifiable(
                "qop=auth-int needs H(entity-body), but the captured body is truncated "
                "(recapture with -s 0)"
            )
        body = message.body
    assert credentials.nonce is not None and credentials.response is not None  # checked above
    return ResponseCheck(
        algorithm=algorithm,
        nonce=credentials.nonce,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
        qop=qop,
        response=credentials.response.strip().lower(),
        body=body,
    )


def same_uri(first: str, second: str) -> bool:
    """Equal as a server comparing the digest uri with the Request-URI would see them: exact,
    or differing only in letter case (scheme and host are case-insensitive, RFC 3261 §19.1.4)."""
    return first == second or first.casefold() == second.casefold()


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the capture says around one authenticated request."""

    message: SipMessage
    exchange_id: int | None
    status: int | None  # its final response, None when unanswered
    stale_frame: int | None  # the 401/407 answering it with stale=true, if any
    challenge: Challenge | None  # the challenge it answers
    challenge_frame: int | None
    latest_nonces: frozenset[str] | None  # nonces of the challenge just before it, if known
    latest_frame: int | None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status in _REFUSED


@dataclass(frozen=True, slots=True)
class _Judgement:
    verdict: Verdict
    detail: str
    matched_user: str | None = None
    variant: str | None = None
    username: str | None = None
    algorithm: str | None = None


def _quote(text: str) -> str:
    return f'"{text}"'


class _Judge:
    """Applies the verdict ladder of the module docstring to one set of credentials."""

    def __init__(
        self,
        context: RequestContext,
        credentials: Credentials,
        check: ResponseCheck,
        known: Sequence[KnownCredential],
        options: VerifyOptions,
    ) -> None:
        self.context = context
        self.credentials = credentials
        self.check = check
        self.known = known
        self.options = options
        method = context.message.method or ""
        # RFC 3261 §22.4: the method is the request's own. ACK/CANCEL copies of an INVITE's
        # credentials are also tried with INVITE, which is what such a copy was computed for.
        self.methods = (method, "INVITE") if method in ("ACK", "CANCEL") else (method,)
        self.realm = credentials.realm or ""
        self.uri = credentials.uri or ""

    def _hit(
        self,
        secret: KnownCredential,
        username: str,
        realm: str,
        uri: str,
        password: str | None = None,
    ) -> str | None:
        """The method with which ``secret`` (or ``password``) reproduces the response, or None."""
        if password is not None or secret.password is not None:
            text = password if password is not None else secret.password
            assert text is not None
            base = self.check.base_ha1(username, realm, text)
        else:
            # An HA1 binds username and realm: usable only for exactly those.
            if secret.ha1 is None or (secret.username is not None and secret.username != username):
                return None
            if secret.realm is not None and secret.realm != realm:
                return None
            if len(secret.ha1) != len(digest_hash(self.check.algorithm, b"")):
                return None
            base = secret.ha1
        for method in self.methods:
            if self.check.matches(base, method, uri):
                return method
        return None

    def _method_note(self, method: str) -> str:
        own = self.context.message.method or ""
        if method != own:
            return f" (computed with method {method}, as for the INVITE, not {own})"
        return ""

    def judge(self) -> _Judgement:
        credentials = self.credentials
        sent = decoded_username(credentials) or ""
        algorithm = self.check.algorithm
        username = sent
        if credentials.userhash:
            resolved = [
                k.username
                for k in self.known
                if k.username is not None
                and userhash(algorithm, k.username, self.realm) == sent.strip().lower()
            ]
            if not resolved:
                return _Judgement(
                    Verdict.UNKNOWN_USER,
                    "userhash=true (RFC 7616 §3.4.4) and the hashed username is none of the "
                    f"known usernames in realm {_quote(self.realm)}",
                    algorithm=algorithm,
                )
            username = resolved[0]
        own = [k for k in self.known if k.username is None or k.username == username]
        # Secrets for the realm in question first: the same username may exist on two trunks.
        challenge_realm = self.context.challenge.realm if self.context.challenge else None
        own.sort(key=lambda k: 0 if k.realm in (None, self.realm, challenge_realm) else 1)
        base = {"username": username, "algorithm": algorithm}

        for secret in own:
            method = self._hit(secret, username, self.realm, self.uri)
            if method is not None:
                return self._exact(secret, method, challenge_realm, **base)

        request_uri = self.context.message.request_uri
        for secret in own:
            realms = [
                r for r in (challenge_realm, secret.realm) if r is not None and r != self.realm
            ]
            for realm in dict.fromkeys(realms):
                method = self._hit(secret, username, realm, self.uri)
                if method is not None:
                    return _Judgement(
                        Verdict.REALM_MISMATCH,
                        f"the response matches the known password for {secret.who} hashed with "
                        f"realm {_quote(realm)}, but the credentials say realm "
                        f"{_quote(self.realm)} (RFC 3261 §22.4: the realm must be the "
                        f"challenge's){self._method_note(method)}",
                        matched_user=secret.username,
                        **base,
                    )
            if request_uri and not same_uri(self.uri, request_uri):
                method = self._hit(secret, username, self.realm, request_uri)
                if method is not None:
                    return _Judgement(
                        Verdict.URI_MISMATCH,
                        f"the response matches the known password for {secret.who} computed "
                        f"over the Request-URI {_quote(request_uri)}, but the credentials carry "
                        f"uri={_quote(self.uri)} (RFC 3261 §22.4: they must be equal)",
                        matched_user=secret.username,
                        **base,
                    )

        if self.options.near_miss:
            for secret in own:
                if secret.password is None:
                    continue
                for name, text in near_miss_variants(secret.password):
                    method = self._hit(secret, username, self.realm, self.uri, password=text)
                    if method is not None:
                        return _Judgement(
                            Verdict.NEAR_MISS,
                            f"the response matches the known password for {secret.who} with "
                            f"{name}: the client's copy of the password differs by that alone"
                            f"{self._method_note(method)}",
                            matched_user=secret.username,
                            variant=name,
                            **base,
                        )

        named = [k for k in own if k.username is not None]
        if not credentials.userhash:
            for secret in self.known:
                if secret.password is None or secret.username in (None, username):
                    continue
                if self._hit(secret, username, self.realm, self.uri) is None:
                    continue
                if named:
                    return _Judgement(
                        Verdict.WRONG_PASSWORD,
                        f"the response does not match the known password for "
                        f"{_quote(username)}, but matches the one known for {secret.who}: the "
                        "client uses another account's password",
                        matched_user=secret.username,
                        **base,
                    )
                if self.context.accepted:
                    return _Judgement(
                        Verdict.VERIFIED,
                        f"the response matches the known password for {secret.who} under the "
                        f"auth username {_quote(username)} as sent; the server accepted it",
                        matched_user=secret.username,
                        **base,
                    )
                return _Judgement(
                    Verdict.WRONG_USERNAME,
                    f"the response matches the known password for {secret.who} under the auth "
                    f"username {_quote(username)}, which the known credentials do not list: a "
                    "typo in the auth username?",
                    matched_user=secret.username,
                    **base,
                )
        if not own:
            return _Judgement(
                Verdict.UNKNOWN_USER,
                f"no known credentials for auth username {_quote(username)}, and no known "
                "password matches it",
                **base,
            )
        who = " / ".join(dict.fromkeys(k.who for k in own))
        detail = (
            f"the response matches no known password for {who} (realm {_quote(self.realm)}): "
            "the client is configured with a different password"
        )
        if self.options.near_miss and all(k.password is None for k in own):
            detail += " (near-miss checks need the password, not its HA1)"
        if self.context.accepted:
            detail += "; the server accepted it, so the known password is the outdated one"
        return _Judgement(Verdict.WRONG_PASSWORD, detail, **base)

    def _exact(
        self,
        secret: KnownCredential,
        method: str,
        challenge_realm: str | None,
        *,
        username: str,
        algorithm: str,
    ) -> _Judgement:
        context = self.context
        common = {"matched_user": secret.username, "username": username, "algorithm": algorithm}
        note = self._method_note(method)
        if challenge_realm is not None and challenge_realm != self.realm:
            where = f" (frame {context.challenge_frame})" if context.challenge_frame else ""
            return _Judgement(
                Verdict.REALM_MISMATCH,
                f"the response matches the known password for {secret.who} with realm "
                f"{_quote(self.realm)} as the client sent it, but the challenge{where} is for "
                f"realm {_quote(challenge_realm)}{note}",
                **common,
            )
        nonce = self.credentials.nonce
        if not context.accepted and context.stale_frame is not None:
            return _Judgement(
                Verdict.STALE_NONCE,
                f"the password is right (known password for {secret.who}), but the server "
                f"answered stale=true (frame {context.stale_frame}): the nonce had expired",
                **common,
            )
        if (
            not context.accepted
            and context.latest_nonces
            and nonce is not None
            and nonce not in context.latest_nonces
        ):
            return _Judgement(
                Verdict.STALE_NONCE,
                f"the password is right (known password for {secret.who}), but the nonce is "
                f"not from the latest challenge (frame {context.latest_frame})",
                **common,
            )
        request_uri = context.message.request_uri
        # Blame the uri only when the account is pinned down: with a password known for any
        # username, a refusal is at least as likely an auth username the server does not know
        # (registrars commonly accept a uri of the transport address, as in the samples).
        if (
            context.refused
            and secret.username is not None
            and request_uri
            and not same_uri(self.uri, request_uri)
        ):
            return _Judgement(
                Verdict.URI_MISMATCH,
                f"the password is right (known password for {secret.who}), but the digest "
                f"uri={_quote(self.uri)} is not the Request-URI {_quote(request_uri)} and the "
                f"server refused it ({context.status}; RFC 3261 §22.4){note}",
                **common,
            )
        detail = f"the response matches the known password for {secret.who}{note}"
        if context.refused:
            detail += (
                f"; the server still refused it ({context.status}): it holds another password "
                "or username for this account"
            )
            sip_user = _uri_user(context.message.to_uri)
            if sip_user and username and sip_user != username:
                detail += (
                    f" — note the auth username {_quote(username)} differs from the SIP user "
                    f"{_quote(sip_user)}"
                )
        elif context.accepted:
            detail += f"; accepted ({context.status})"
        elif context.status is None:
            detail += "; no final response in the capture"
        return _Judgement(Verdict.VERIFIED, detail, **common)


def _uri_user(uri: str | None) -> str | None:
    """The user part of ``sip:user@host`` (None when there is none)."""
    if not uri or "@" not in uri:
        return None
    return uri.split(":", 1)[-1].split("@", 1)[0] or None


def digest_credentials(message: SipMessage) -> tuple[Credentials, ...]:
    return digest_only(message.credentials)


def judge_credentials(
    context: RequestContext,
    credentials: Credentials,
    known: Sequence[KnownCredential],
    options: VerifyOptions | None = None,
) -> tuple[Verdict, str, _Judgement | None]:
    """The verdict for one set of credentials on ``context.message``."""
    limits = options or VerifyOptions()
    check = response_check(context.message, credentials)
    if isinstance(check, Unverifiable):
        reason = check.reason
        if check.rfc2069 is not None:
            # sipvicious 0.3.3 writes qop=auth but hashes RFC 2069-style: say whether the
            # password itself was right, so the user knows what fixing the client would give.
            plain = _Judge(context, credentials, check.rfc2069, known, limits).judge()
            if plain.verdict in _PASSWORD_RIGHT:
                reason += (
                    f"; read as RFC 2069 (no qop) it matches the known password for "
                    f"{_quote(plain.matched_user or '')}"
                    if plain.matched_user
                    else "; read as RFC 2069 (no qop) it matches the known password"
                )
            elif plain.verdict is Verdict.WRONG_PASSWORD:
                reason += "; read as RFC 2069 (no qop) it matches no known password either"
        return Verdict.UNVERIFIABLE, reason, None
    try:
        judgement = _Judge(context, credentials, check, known, limits).judge()
    except DigestComputationError as error:
        return Verdict.UNVERIFIABLE, str(error), None
    return judgement.verdict, judgement.detail, judgement


def verify_request(
    context: RequestContext,
    known: Sequence[KnownCredential],
    options: VerifyOptions | None = None,
) -> Verification | None:
    """One verdict for a request (None when it carries no digest credentials).

    A request carrying several credentials (e.g. Authorization for the registrar and
    Proxy-Authorization for a proxy) gets the first verdict that is not ``verified``.
    """
    message = context.message
    all_credentials = digest_credentials(message)
    if not all_credentials:
        return None
    results = [(c, *judge_credentials(context, c, known, options)) for c in all_credentials]
    chosen = next((r for r in results if r[1] is not Verdict.VERIFIED), results[0])
    credentials, verdict, detail, judgement = chosen
    if len(results) > 1:
        detail = "; ".join(f"{c.header.value}: {d}" for c, _, d, _ in results)
    return Verification(
        file=message.source.file,
        frame=message.source.frame,
        method=message.method or "",
        verdict=verdict,
        detail=detail,
        exchange_id=context.exchange_id,
        username=judgement.username if judgement else decoded_username(credentials),
        realm=credentials.realm,
        algorithm=judgement.algorithm if judgement else canonical_algorithm(credentials.algorithm),
        qop=credentials.qop,
        matched_user=judgement.matched_user if judgement else None,
        variant=judgement.variant if judgement else None,
        status=context.status,
    )


def _challenge_response(attempt: Transaction) -> SipMessage | None:
    final = attempt.final
    if final is not None and final.status in (401, 407):
        return final
    return None


def nonce_index(correlation: Correlation) -> dict[tuple[str, str], tuple[Challenge, SipMessage]]:
    """(server IP, nonce) → the challenge that first issued it and its 401/407 (RFC 7616 §3.3:
    a nonce means something only to the server that issued it)."""
    index: dict[tuple[str, str], tuple[Challenge, SipMessage]] = {}
    for transaction in correlation.transactions:
        response = _challenge_response(transaction)
        if response is None:
            continue
        for challenge in response.challenges:
            if challenge.nonce is not None:
                index.setdefault((transaction.server.ip, challenge.nonce), (challenge, response))
    return index


def request_contexts(
    correlation: Correlation,
) -> Iterator[RequestContext]:
    """A context for every request carrying credentials, exchange by exchange."""
    nonces = nonce_index(correlation)
    for exchange in correlation.exchanges:
        previous: SipMessage | None = None
        for attempt in exchange.attempts:
            request = attempt.request
            if request.credentials:
                yield _context(exchange, attempt, request, previous, nonces)
            previous = _challenge_response(attempt) or previous
        extras: list[tuple[SipMessage, Transaction | None]] = [(a, None) for a in exchange.acks]
        extras.extend((c.request, c) for c in exchange.cancels)
        for message, transaction in extras:
            if message.credentials:
                yield _context(exchange, transaction, message, None, nonces)


def _context(
    exchange: AuthExchange,
    attempt: Transaction | None,
    request: SipMessage,
    previous: SipMessage | None,
    nonces: dict[tuple[str, str], tuple[Challenge, SipMessage]],
) -> RequestContext:
    final = attempt.final if attempt is not None else None
    stale_frame = None
    if final is not None and final.status in (401, 407) and any(c.stale for c in final.challenges):
        stale_frame = final.source.frame
    credentials = digest_credentials(request)
    first = credentials[0] if credentials else None
    challenge: Challenge | None = None
    challenge_frame: int | None = None
    if first is not None and first.nonce is not None:
        found = nonces.get((request.source.dst.ip, first.nonce))
        if found is not None:
            challenge, issued = found
            challenge_frame = issued.source.frame
    if challenge is None and previous is not None and first is not None:
        kind = _CHALLENGE_HEADER.get(first.header)
        for candidate in previous.challenges:
            if candidate.header is kind and is_digest(candidate.scheme):
                challenge, challenge_frame = candidate, previous.source.frame
                break
    latest = None
    if previous is not None:
        latest = frozenset(c.nonce for c in previous.challenges if c.nonce is not None) or None
    return RequestContext(
        message=request,
        exchange_id=exchange.id,
        status=final.status if final is not None else None,
        stale_frame=stale_frame,
        challenge=challenge,
        challenge_frame=challenge_frame,
        latest_nonces=latest,
        latest_frame=previous.source.frame if previous is not None else None,
    )


def verify_correlation(
    correlation: Correlation,
    known: Iterable[KnownCredential],
    options: VerifyOptions | None = None,
    notes: NoteSink | None = None,
) -> Verifications:
    """A verdict for every authenticated request in ``correlation``, in capture order."""
    limits = options or VerifyOptions()
    secrets = tuple(known)
    out: Verifications = {}
    if not secrets:
        return out
    skipped = 0
    for context in request_contexts(correlation):
        if len(out) >= limits.max_requests:
            skipped += 1
            continue
        verification = verify_request(context, secrets, limits)
        if verification is not None:
            out[verification.key] = verification
    if skipped and notes is not None:
        notes.add(
            Note(
                kind="verify-limited",
                detail=f"{skipped} authenticated requests not verified "
                f"(max_requests={limits.max_requests})",
                level=NoteLevel.WARNING,
            )
        )
    return dict(sorted(out.items()))
