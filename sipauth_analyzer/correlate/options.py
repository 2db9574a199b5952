"""Named, documented limits of the correlation stage (one options object, passed down).

Every table correlation keeps is bounded here. Limits are measured in entries and in *capture*
time (never wall-clock), so memory stays flat however long the capture is. When a limit is hit
the stage says so with a Note (kind ``correlate-*``) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CorrelateOptions:
    """Limits of the correlation stage.

    ``max_transactions``: transactions kept findable at once (for retransmission detection and
    response matching). The least recently active one is forgotten first; a response to a
    forgotten transaction becomes an orphan. A warning note counts the ones forgotten while
    something could still come (no final response yet, or one less than 64*T1 = 32 s ago), an
    information note the others. Each costs
    about 2 KB with its messages, so the default holds about 100 MB; 50,000 is four minutes
    (``transaction_timeout``) at 200 transactions a second, and a busier capture only loses
    the answers that come after minutes of silence (raise it for those).

    ``transaction_timeout``: seconds of capture time after a transaction's last message before it
    is forgotten. RFC 3261 §17.1.1.2 Timer C (> 3 min) bounds how long an INVITE waits for a
    final answer, and every other timer (64*T1 = 32 s, §17.1.2.2) is shorter, so 240 s keeps every
    legitimate late response matchable.

    ``max_open_exchanges``: auth exchanges that can still receive a retry at once (their last
    attempt was challenged or is unanswered). When full, the least recently active is closed and
    a note says how many were; a later retry of it starts a new exchange. Both defaults keep a
    flood of a million unanswered requests under 250 MiB (docs/performance.md).

    ``exchange_idle_timeout``: seconds of capture time after an exchange's last message before it
    stops accepting retries. A person typing a password into a softphone prompt takes tens of
    seconds; registration refreshes come minutes apart (RFC 3261 §10.2.1 default Expires 3600), so
    two minutes separates "answering the challenge" from "trying again later".

    ``max_nonces_per_exchange``: challenge nonces remembered per open exchange for linking a
    retry that echoes one of them (RFC 7616 §3.4: credentials carry the challenge's nonce). A
    brute-force loop gets a fresh nonce per cycle; only the newest ones are kept.

    ``max_listed_plain_exchanges``: exchanges that never touched authentication (no challenge,
    no credentials, nothing any rule reads: see rules/retention.py) listed in the report. Past
    it, such exchanges are counted in the metrics as they end and let go with their messages,
    and a note says how many; memory then stays flat through a flood of unauthenticated
    requests (a scan, a million unanswered REGISTERs, keep-alive OPTIONS of a long capture).

    ``max_kept_messages``: the memory budget of the rules' input, in SIP messages (each costs
    1.5-2 KB kept with its transaction and exchange; the default is about 1 GiB). Correlation keeps
    every message an exchange the rules can report on holds, until the report; a capture with
    more than this many (a brute-force run of hours, a day of a busy trunk) would otherwise grow
    until the machine runs out of memory. Once it is reached nothing more is kept: every exchange
    that ends after that point, or is still open at the end, is counted in the metrics, the
    verdict and filtered views but not handed to the rules, and so is every message that joins
    nothing (a response to no request, an ACK or CANCEL for no INVITE); a warning note
    (``correlate-exchanges-undiagnosed``) says how many and where. Findings then cover the
    exchanges that ended before that point: raise it when the machine has the memory, or cut
    the capture (``editcap -A/-B``).

    ``max_memoized_tag_lines``: distinct From / To header lines whose ``tag`` parameter is
    remembered (see ``transactions.TagMemo``); when full the memo starts over. Only speed
    depends on it, never a result.

    ``max_tracked_nonces``: nonces per peer pair whose first sight the nonce-lifetime metric
    remembers (see ``metrics.NonceLifetimes``); past it the older half of those never accepted
    is forgotten, which can only shorten a lifetime measured on a nonce reused after that many
    others (it stays a lower bound).
    """

    max_transactions: int = 50_000
    transaction_timeout: float = 240.0
    max_open_exchanges: int = 25_000
    exchange_idle_timeout: float = 120.0
    max_nonces_per_exchange: int = 8
    max_listed_plain_exchanges: int = 10_000
    max_kept_messages: int = 500_000
    max_memoized_tag_lines: int = 4096
    max_tracked_nonces: int = 100_000
