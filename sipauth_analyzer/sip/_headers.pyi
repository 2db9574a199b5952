# The SIP parser's fast header pass in C (sip/_headers.c); see parser.python_fast_headers.
from collections.abc import Mapping

def fast_headers(
    head: str,
    known: Mapping[str, str],
    keep: frozenset[str] | None,
    shared: dict[str, str],
    max_chars: int,
    limit: int,
    /,
) -> tuple[list[str], list[str]] | None: ...
