"""The JSON report's attempt records in C (report/_jsontext.c) write what the Python writer
(``json_report.python_attempts_json``, the reference) writes, byte for byte.

tests/report/test_json_exchanges.py checks the whole exchange text against the json encoder;
this module checks the two attempt writers against each other on every capture we have and on
values no capture holds (times that are not finite, negative or huge, strings that need
escaping, values of the wrong type).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import struct
from pathlib import Path

import pytest

from bench.generate import StormParams, generate_storm
from sipauth_analyzer.correlate import correlate
from sipauth_analyzer.correlate.model import Transaction
from sipauth_analyzer.pipeline import analyze
from sipauth_analyzer.report import json_report
from sipauth_analyzer.report.json_report import _REDACTED_JSON, _json_time, python_attempts_json
from sipauth_analyzer.sip.message import SipMessage
from tests.conftest import every_capture, needs_c_function, optional_c_function
from tests.correlate.sipfactory import Flow, digest_challenge, digest_credentials

c_attempts_json = optional_c_function("sipauth_analyzer.report._jsontext", "attempts_json")
c_time_json = optional_c_function("sipauth_analyzer.report._jsontext", "time_json")
pytestmark = needs_c_function(
    c_attempts_json, "report/_jsontext.c", "the Python writer writes every attempt record"
)


def _both(attempts: list[Transaction], show_secrets: bool) -> tuple[str, str]:
    return (
        python_attempts_json(attempts, show_secrets, _REDACTED_JSON),
        c_attempts_json(attempts, show_secrets, _REDACTED_JSON),
    )


def test_the_report_uses_it() -> None:
    assert json_report.attempts_json is c_attempts_json


def test_every_capture_we_have(tmp_path: Path) -> None:
    storm = generate_storm(StormParams(messages=2_000), tmp_path).path
    compared = challenged = 0
    for path in [*every_capture(), storm]:
        for exchange in analyze([str(path)]).correlation.exchanges:
            for show_secrets in (False, True):
                python_text, c_text = _both(list(exchange.attempts), show_secrets)
                assert c_text == python_text, (path.name, exchange.id, show_secrets)
                compared += 1
            challenged += exchange.challenged
    # 618 records and 296 challenged exchanges without ../shared/real_pcaps, 1,216 and 329 with
    assert compared > 500 and challenged > 250


def _flow(text: str = "plain", *, qop: str = ', qop="auth,auth-int"', stale: bool = False,
          opaque: bool = True) -> list[SipMessage]:
    """REGISTER, 401, retransmitted retry with credentials, 100, 200; ``text`` in the values."""
    flow = Flow()
    request = flow.request("REGISTER", call_id=f"c-{text}", branch="z9hG4bK-1", at=0.5)
    extra = qop + (', stale=true' if stale else "") + (', opaque="op"' if opaque else "")
    flow.response(request, 401, challenge=digest_challenge(f"n-{text}", extra=extra))
    retry = flow.request(
        "REGISTER", call_id=f"c-{text}", cseq=2, branch="z9hG4bK-2", at=1.25,
        auth=digest_credentials(f"n-{text}", extra=', qop=auth, nc=00000001, cnonce="x"'),
    )
    flow.again(retry, at=1.75)
    flow.response(retry, 100)
    flow.response(retry, 200)
    return flow.messages


def _attempts(messages: list[SipMessage]) -> list[Transaction]:
    exchanges = correlate(messages).exchanges
    assert exchanges
    return [attempt for exchange in exchanges for attempt in exchange.attempts]


@pytest.mark.parametrize("show_secrets", [False, True])
@pytest.mark.parametrize(
    "text",
    ['quote " and backslash \\', "back\\slash", 'quote"', "line\r\nbreak",
     "tab\t, nul \x00, \x1f and \x7f", "π ünïcödé 🙂", ""],
)
def test_strings_that_need_escaping(text: str, show_secrets: bool) -> None:
    messages = [
        dataclasses.replace(m, source=dataclasses.replace(m.source, file=f"f-{text}.pcap"))
        for m in _flow(text)
    ]
    python_text, c_text = _both(_attempts(messages), show_secrets)
    assert c_text == python_text
    assert '"retransmission_frames": [4]' in python_text
    assert f'"file": {json.dumps(f"f-{text}.pcap", ensure_ascii=False)}' in python_text


@pytest.mark.parametrize(
    ("qop", "stale", "opaque"),
    [(', qop="auth,auth-int"', False, True), ("", True, False), (', qop=""', False, False)],
)
def test_challenge_fields(qop: str, stale: bool, opaque: bool) -> None:
    attempts = _attempts(_flow(qop=qop, stale=stale, opaque=opaque))
    python_text, c_text = _both(attempts, False)
    assert c_text == python_text
    assert f'"response": {_REDACTED_JSON}, "cnonce": {_REDACTED_JSON}' in python_text
    shown_python, shown_c = _both(attempts, True)
    assert shown_c == shown_python
    assert '"response": "0123456789abcdef0123456789abcdef", "cnonce": "x"' in shown_python
    assert f'"stale": {"true" if stale else "false"}' in python_text
    assert f'"opaque": {"true" if opaque else "false"}' in python_text


@pytest.mark.parametrize(
    "time",
    [0.0, -0.0, 1e-9, -1e-9, 1.5, 1e-5, 0.1 + 0.2, 1_700_000_000.1234565, 2.0**32 + 0.5, 1e17,
     -3.25, math.inf, -math.inf, math.nan],
)
def test_times(time: float) -> None:
    """Rounded to the microsecond and spelled as the json encoder spells floats, including
    the forms no capture should hold (NaN and infinities are not JSON, but the encoder writes
    them, so the two writers must agree)."""
    messages = [dataclasses.replace(m, source=dataclasses.replace(m.source, time=time))
                for m in _flow()]
    python_text, c_text = _both(_attempts(messages), False)
    assert c_text == python_text


@pytest.mark.parametrize("number", [0, -1, -(2**63), 2**63 - 1, 2**63, 2**70, -(2**70)])
def test_ints_beyond_any_capture(number: int) -> None:
    """Frame numbers and sizes are written as int.__repr__ writes them, whatever their size."""
    messages = [dataclasses.replace(
        m, source=dataclasses.replace(m.source, frame=number, wire_size=number)
    ) for m in _flow()]
    python_text, c_text = _both(_attempts(messages), False)
    assert c_text == python_text
    assert f'"size": {number}' in python_text


def test_the_redacted_text_is_the_callers() -> None:
    attempts = _attempts(_flow())
    python_text = python_attempts_json(attempts, False, '"(hidden)"')
    assert python_text == c_attempts_json(attempts, False, '"(hidden)"')
    assert '"response": "(hidden)", "cnonce": "(hidden)"' in python_text


def test_empty_and_wrong_types() -> None:
    assert _both([], False) == ("", "")
    attempts = _attempts(_flow())
    frame_as_text = [dataclasses.replace(
        attempts[0],
        request=dataclasses.replace(
            attempts[0].request,
            source=dataclasses.replace(attempts[0].request.source, frame="7"),  # type: ignore[arg-type]
        ),
    )]
    with pytest.raises(TypeError):
        python_attempts_json(frame_as_text, False, _REDACTED_JSON)
    with pytest.raises(TypeError):
        c_attempts_json(frame_as_text, False, _REDACTED_JSON)
    with pytest.raises(TypeError):
        c_attempts_json(attempts, False, None)


def _time_values() -> list[float]:
    """Times around every edge of the C writer's integer rounding (report/_jsontext.c,
    ``put_time_fast``) and of repr's fixed notation, and many ordinary ones."""
    rng = random.Random(7)
    values = [0.0001, 0.00009999999999999999, 0.000099999949, 0.00009999995, 0.000100000049,
              2.0**32, 2.0**32 - 2.0**-21, 2.0**32 - 0.0000004, 2.0**32 - 0.0000005, 1e15, 1e16,
              5e-324, 1.7976931348623157e308, 1.0, 10.0, 0.5, 123456.0, 1e-7]
    values += [k / 128 for k in range(1, 2_000, 2)]  # k/128 * 10**6 ends in .5: half to even
    values += [k / 2**20 for k in range(1, 5_000, 7)]
    values += [1_700_000_000 + k / 2**22 for k in range(0, 40_000, 3)]  # ties at this scale
    values += [rng.uniform(0, 2**32) for _ in range(20_000)]
    values += [1_765_000_000 + rng.randrange(10**9) / 10**9 for _ in range(20_000)]
    values += [10 ** rng.uniform(-6, 12) for _ in range(20_000)]
    values += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
               for _ in range(20_000)]  # any bit pattern: NaNs, infinities, subnormals
    return values + [-v for v in values]


def test_times_in_bulk() -> None:
    """The C time spelling against the Python one, for 200,000 values."""
    values = _time_values()
    assert len(values) > 150_000
    for value in values:
        assert c_time_json(value) == _json_time(value), repr(value)
    assert c_time_json(None) == _json_time(None) == "null"
