"""Loading known credentials: file, environment, prompt; secrets never in repr or errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.verify.credentials import (
    CredentialsError,
    KnownCredential,
    build_credentials,
    load_credentials,
)
from sipauth_analyzer.verify.model import VerifyOptions

HA1 = "0123456789abcdef0123456789abcdef"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "creds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_with_password_ha1_and_env(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[credentials]]\nusername = "alice"\nrealm = "r"\npassword = "pw with space "\n'
        f'[[credentials]]\nusername = "bob"\nha1 = "{HA1.upper()}"\n'
        '[[credentials]]\nusername = "carol"\npassword_env = "CAROL_PW"\n',
    )
    alice, bob, carol = load_credentials(path, environ={"CAROL_PW": "from-env"})
    assert (alice.username, alice.realm, alice.password) == ("alice", "r", "pw with space ")
    assert bob.ha1 == HA1 and bob.password is None and bob.realm is None
    assert carol.password == "from-env"
    assert carol.label == "creds.toml entry 3"


def test_repr_never_shows_secrets() -> None:
    known = KnownCredential("alice", "r", password="hunter2")
    hashed = KnownCredential("bob", ha1=HA1)
    assert "hunter2" not in repr(known) and HA1 not in repr(hashed)


def test_missing_secret_uses_password_env_then_prompt(tmp_path: Path) -> None:
    path = write(tmp_path, '[[credentials]]\nusername = "alice"\n')
    (from_default,) = load_credentials(path, environ={}, default_password="pw")
    assert from_default.password == "pw"
    asked: list[str] = []

    def prompt(label: str) -> str:
        asked.append(label)
        return "typed"

    (from_prompt,) = load_credentials(path, environ={}, prompt=prompt)
    assert from_prompt.password == "typed" and asked == ['Password for "alice"']
    with pytest.raises(CredentialsError, match="no password"):
        load_credentials(path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "invalid TOML"),
        ('[[credentials]]\npassword = "x"\n', "username is required"),
        ('[[credentials]]\nusername = "a"\npassword = "x"\nha1 = "' + HA1 + '"\n', "only one"),
        ('[[credentials]]\nusername = "a"\nha1 = "xyz"\n', "hex digits"),
        ('[[credentials]]\nusername = "a"\npasword = "x"\n', "unknown key"),
        ('[[credentials]]\nusername = "a"\npassword_env = "NOPE"\n', "NOPE is not set"),
        ("title = 1\n", r"no \[\[credentials\]\] entries"),
    ],
)
def test_bad_files_raise_without_echoing_secrets(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as error:
        load_credentials(write(tmp_path, text), environ={})
    assert '"x"' not in str(error.value)


def test_unreadable_file_and_entry_limit(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credentials(tmp_path / "absent.toml")
    path = write(tmp_path, '[[credentials]]\nusername = "a"\npassword = "x"\n' * 3)
    with pytest.raises(CredentialsError, match="max_credentials"):
        load_credentials(path, options=VerifyOptions(max_credentials=2))


def test_build_without_file_gives_one_password_for_any_username() -> None:
    (anyone,) = build_credentials(password_env="PW", environ={"PW": "s"})
    assert anyone.username is None and anyone.password == "s"
    (typed,) = build_credentials(ask_password=lambda _label: "t", environ={})
    assert typed.password == "t"
    assert build_credentials(environ={}) == ()
    with pytest.raises(CredentialsError, match="PW is not set"):
        build_credentials(password_env="PW", environ={})
