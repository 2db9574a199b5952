"""Build one challenge/answer exchange whose response is computed here with hashlib, independently
of sipauth_analyzer.sip.digest, so verdict tests cannot share a bug with the code under test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sipauth_analyzer.correlate.model import Correlation
from tests.rules.sipbuild import UAC, UAS, Wire, correlation, request, response

REALM = "sbc.example"
URI = "sip:198.51.100.20"
NONCE = "n0nce-1"
CNONCE = "0a4f113b"
NC = "00000001"

_HASHLIB = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def h(algorithm: str, data: bytes | str) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.new(_HASHLIB[base], raw).hexdigest()


def digest(
    *,
    algorithm: str = "MD5",
    username: str = "alice",
    realm: str = REALM,
    password: str = "s3cret",
    nonce: str = NONCE,
    method: str = "REGISTER",
    uri: str = URI,
    qop: str | None = None,
    nc: str = NC,
    cnonce: str = CNONCE,
    body: bytes = b"",
) -> str:
    """RFC 2617 §3.2.2 / RFC 7616 §3.4.1 response."""
    ha1 = h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = h(algorithm, f"{method}:{uri}:{h(algorithm, body)}")
    else:
        ha2 = h(algorithm, f"{method}:{uri}")
    if qop is None:
        return h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass(frozen=True, slots=True)
class Case:
    """REGISTER → 401 (challenge) → REGISTER with ``authorization`` → ``final`` status."""

    authorization: str  # the header value after "Authorization: "
    final: int = 200
    challenge: str = f'Digest realm="{REALM}", nonce="{NONCE}"'
    stale: bool = False
    request_uri: str = URI
    body_size: int = 0
    content_length_extra: int = 0

    def wires(self) -> list[Wire]:
        first = request("REGISTER", cseq=1, branch="z9hG4bK-1", uri=self.request_uri)
        challenge = self.challenge + (", stale=true" if self.stale else "")
        wires = [
            Wire(first, UAC, UAS, 0.0),
            Wire(
                response(first, 401, "Unauthorized", headers=[f"WWW-Authenticate: {challenge}"]),
                UAS,
                UAC,
                0.01,
            ),
        ]
        retry = request(
            "REGISTER",
            cseq=2,
            branch="z9hG4bK-2",
            uri=self.request_uri,
            headers=[f"Authorization: {self.authorization}"],
            body_size=self.body_size,
        )
        if self.content_length_extra:
            head, _, body = retry.partition("\r\n\r\n")
            length = len(body.encode())
            head = head.replace(
                f"Content-Length: {length}", f"Content-Length: {length + self.content_length_extra}"
            )
            retry = f"{head}\r\n\r\n{body}"
        wires.append(Wire(retry, UAC, UAS, 0.05))
        reasons = {200: "OK", 401: "Unauthorized", 403: "Forbidden"}
        wires.append(Wire(response(retry, self.final, reasons[self.final]), UAS, UAC, 0.06))
        return wires

    def correlation(self) -> Correlation:
        return correlation(self.wires())


def body_of(size: int) -> bytes:
    """The body ``sipbuild.request(body_size=size)`` writes."""
    return ("v=0\r\n" + "a=x" * (size // 3)).encode() if size else b""


def authorization(
    *,
    username: str = "alice",
    realm: str = REALM,
    nonce: str = NONCE,
    uri: str = URI,
    response_hash: str,
    algorithm: str | None = None,
    qop: str | None = None,
    extra: str = "",
) -> str:
    parts = [
        f'Digest username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{response_hash}"',
    ]
    if algorithm is not None:
        parts.append(f"algorithm={algorithm}")
    if qop is not None:
        parts.append(f'qop={qop}, nc={NC}, cnonce="{CNONCE}"')
    elif algorithm is not None and algorithm.upper().endswith("-SESS"):
        parts.append(f'cnonce="{CNONCE}"')
    text = ", ".join(parts)
    return text + extra
