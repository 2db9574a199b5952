"""Configuration: where it is found, what it may hold, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipauth_analyzer.config import Config, ConfigError, find_config, load_config, option_fields


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults(tmp_path):
    if find_config(tmp_path) is not None:
        pytest.skip(f"a configuration above {tmp_path} is in the way: {find_config(tmp_path)}")
    assert load_config(start=tmp_path) == Config()


def test_pyproject_table_found_upwards(tmp_path):
    write(tmp_path / "pyproject.toml", """
[project]
name = "x"

[tool.sipauth]
select = ["SA1", "credentials-rejected"]
ignore = ["SA602"]
fail-on = "warning"
max-challenge-cycles = 3
udp_size_warning = 1200
transaction-timeout = 60
max-tcp-buffer = 65536
known-scanner-user-agents = ["evil"]
max-credentials = 5

[tool.sipauth.peers]
"10.0.0.5" = "Genesys Edge"
"[2001:db8::1]:5061" = "SBC"
""")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "pyproject.toml"
    config = load_config(start=deep)
    assert config.select == ("SA1", "credentials-rejected")
    assert config.ignore == ("SA602",)
    assert config.fail_on == "warning"
    assert config.rules.max_challenge_cycles == 3
    assert config.rules.udp_size_warning == 1200
    assert config.rules.known_scanner_user_agents == ("evil",)
    assert config.correlate.transaction_timeout == 60.0
    assert config.capture.max_tcp_buffer == 65536
    assert config.verify.max_credentials == 5
    assert config.peers == {"10.0.0.5": "Genesys Edge", "[2001:db8::1]:5061": "SBC"}


def test_pyproject_without_table_is_skipped_for_a_parent_sipauth_toml(tmp_path):
    write(tmp_path / "sipauth.toml", 'fail-on = "never"\n')
    write(tmp_path / "proj" / "pyproject.toml", '[project]\nname = "x"\n')
    assert find_config(tmp_path / "proj") == tmp_path / "sipauth.toml"
    assert load_config(start=tmp_path / "proj").fail_on == "never"


def test_sipauth_toml_wins_over_pyproject_in_the_same_directory(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.sipauth]\nfail-on = "info"\n')
    write(tmp_path / "sipauth.toml", 'fail-on = "warning"\n')
    assert load_config(start=tmp_path).fail_on == "warning"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1\n", "bogus: unknown key"),
        ("max-challenge-cycles = \"3\"\n", "must be an integer"),
        ("max-challenge-cycles = true\n", "must be an integer"),
        ("max-challenge-cycles = -1\n", ">= 0"),
        ("brute-force-window-s = \"soon\"\n", "must be a number"),
        ("known-scanner-user-agents = [1]\n", "list of str"),
        ("fail-on = \"sometimes\"\n", "must be one of"),
        ("select = [\"SA999\"]\n", "no rule matches SA999"),
        ("select = 3\n", "list of rule codes"),
        ("[peers]\n\"sbc.example.com\" = \"SBC\"\n", "not an IP address"),
        ("[peers]\n\"10.0.0.5\" = 5\n", "non-empty string"),
        ("peers = \"x\"\n", "must be a table"),
        ("this is not toml\n", "invalid TOML"),
    ],
)
def test_bad_configuration_is_one_line_error(tmp_path, text, message):
    path = write(tmp_path / "sipauth.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_explicit_pyproject_without_table_is_an_error(tmp_path):
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.sipauth\] table"):
        load_config(path)


def test_option_names_are_unique_across_stages():
    owners = option_fields()
    assert "max_challenge_cycles" in owners and "max_transactions" in owners
    assert "max_ip_reassemblies" in owners


def test_defaults_object():
    assert Config().fail_on is None and Config().peers == {}
