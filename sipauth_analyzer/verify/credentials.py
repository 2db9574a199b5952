"""Known credentials: the passwords (or HA1 hashes) the engineer knows, from a TOML file, an
environment variable or an interactive prompt — never from the command line itself.

File format (``--credentials creds.toml``)::

    [[credentials]]
    username = "alice"
    realm = "example.test"        # optional: which realm the secret belongs to
    password = "..."              # or: ha1 = "<hex H(username:realm:password)>"
                                  # or: password_env = "TRUNK_PASS"
                                  # or nothing: --password-env / --ask-password supply it

A password is kept byte-exact (never stripped): a trailing space is exactly what the near-miss
check looks for. ``KnownCredential`` hides its secrets from ``repr``; error messages name the
entry, never its secret. A broken file is a broken run: ``CredentialsError``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sipauth_analyzer.verify.model import VerifyOptions

# prompt(label) → the password typed; the CLI passes click.prompt with hide_input=True.
PromptFunction = Callable[[str], str]

_HEX_RE = re.compile(r"[0-9a-fA-F]+")
# RFC 7616 §3.4.2: H(A1) is 32 hex digits for MD5, 64 for SHA-256 and SHA-512-256.
_HA1_LENGTHS = (32, 64)
_KNOWN_KEYS = frozenset({"username", "realm", "password", "ha1", "password_env"})


class CredentialsError(ValueError):
    """The credentials cannot be loaded (unreadable file, bad TOML, an entry without a secret)."""


@dataclass(frozen=True, slots=True)
class KnownCredential:
    """One known secret: a password or an HA1 for ``username`` (None: any username, as sent).

    ``realm`` None means the secret applies whatever realm the client used. ``label`` says where
    the entry came from ("creds.toml entry 2") for messages.
    """

    username: str | None
    realm: str | None = None
    password: str | None = field(default=None, repr=False)
    ha1: str | None = field(default=None, repr=False)  # lower-case hex
    label: str = ""

    def __post_init__(self) -> None:
        if (self.password is None) == (self.ha1 is None):
            raise CredentialsError(f"{self.label or 'credential'}: give a password or an ha1")

    @property
    def who(self) -> str:
        """How messages name this credential: ``"alice"`` or ``any username``."""
        return f'"{self.username}"' if self.username is not None else "any username"


def _text(entry: Mapping[str, object], key: str, label: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{label}: {key} must be a string")
    return value


def _ha1(value: str, label: str) -> str:
    text = value.strip()
    if not _HEX_RE.fullmatch(text) or len(text) not in _HA1_LENGTHS:
        raise CredentialsError(
            f"{label}: ha1 must be 32 (MD5) or 64 (SHA-256, SHA-512-256) hex digits"
        )
    return text.lower()


def _entry(
    entry: Mapping[str, object],
    label: str,
    *,
    environ: Mapping[str, str],
    fallback: Callable[[str], str | None],
) -> KnownCredential:
    unknown = sorted(set(entry) - _KNOWN_KEYS)
    if unknown:
        raise CredentialsError(f"{label}: unknown key(s) {', '.join(unknown)}")
    username = _text(entry, "username", label)
    if not username:
        raise CredentialsError(f"{label}: username is required")
    realm = _text(entry, "realm", label)
    password = _text(entry, "password", label)
    ha1_text = _text(entry, "ha1", label)
    env_name = _text(entry, "password_env", label)
    given = [
        name
        for name, v in (("password", password), ("ha1", ha1_text), ("password_env", env_name))
        if v is not None
    ]
    if len(given) > 1:
        raise CredentialsError(f"{label}: give only one of {', '.join(given)}")
    if env_name is not None:
        password = environ.get(env_name)
        if password is None:
            raise CredentialsError(f"{label}: environment variable {env_name} is not set")
    if password is None and ha1_text is None:
        where = f'"{username}"' + (f"@{realm}" if realm else "")
        password = fallback(f"Password for {where}")
        if password is None:
            raise CredentialsError(
                f"{label}: no password, ha1 or password_env (and neither --password-env nor "
                "--ask-password given)"
            )
    return KnownCredential(
        username=username,
        realm=realm,
        password=password,
        ha1=_ha1(ha1_text, label) if ha1_text is not None else None,
        label=label,
    )


def load_credentials(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    default_password: str | None = None,
    prompt: PromptFunction | None = None,
    options: VerifyOptions | None = None,
) -> tuple[KnownCredential, ...]:
    """The ``[[credentials]]`` entries of a TOML file.

    An entry with no secret of its own gets ``default_password`` (from ``--password-env``), else
    asks ``prompt`` (``--ask-password``), else is an error.
    """
    limits = options or VerifyOptions()
    env = os.environ if environ is None else environ
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CredentialsError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        # The message gives line and column only, never the offending (possibly secret) text.
        raise CredentialsError(f"{name}: invalid TOML ({error})") from None
    entries = document.get("credentials")
    if not isinstance(entries, list) or not entries:
        raise CredentialsError(f"{name}: no [[credentials]] entries")
    if len(entries) > limits.max_credentials:
        raise CredentialsError(
            f"{name}: {len(entries)} entries, more than max_credentials={limits.max_credentials}"
        )

    def fallback(label: str) -> str | None:
        if default_password is not None:
            return default_password
        if prompt is not None:
            return prompt(label)
        return None

    out: list[KnownCredential] = []
    for number, entry in enumerate(entries, start=1):
        label = f"{name} entry {number}"
        if not isinstance(entry, dict):
            raise CredentialsError(f"{label}: not a table")
        out.append(_entry(entry, label, environ=env, fallback=fallback))
    return tuple(out)


def build_credentials(
    *,
    credentials_file: str | None = None,
    password_env: str | None = None,
    ask_password: PromptFunction | None = None,
    environ: Mapping[str, str] | None = None,
    options: VerifyOptions | None = None,
) -> tuple[KnownCredential, ...]:
    """The known credentials from the CLI flags.

    ``--credentials FILE`` gives entries; ``--password-env VAR`` / ``--ask-password`` supply the
    password of entries that have none — or, without a file, one password tried for whatever
    username each request carries (any username).
    """
    env = os.environ if environ is None else environ
    default_password: str | None = None
    if password_env is not None:
        default_password = env.get(password_env)
        if default_password is None:
            raise CredentialsError(f"environment variable {password_env} is not set")
    if credentials_file is not None:
        return load_credentials(
            credentials_file,
            environ=env,
            default_password=default_password,
            prompt=ask_password,
            options=options,
        )
    if default_password is None and ask_password is not None:
        default_password = ask_password("Password (tried for every username)")
    if default_password is None:
        return ()
    return (KnownCredential(username=None, password=default_password, label="password"),)
