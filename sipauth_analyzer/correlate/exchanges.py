"""One pass over the messages: transactions (RFC 3261 §17) and auth exchanges (RFC 7616 §3).

Every message costs a handful of dict lookups — no list of exchanges or transactions is ever
scanned — so correlation keeps up with the capture stage. All state lives in bounded tables
(CorrelateOptions); an exchange stops accepting retries once it is idle for
``exchange_idle_timeout`` seconds of capture time or when it is evicted from a full table.

How a request finds its exchange (the retry rules):

* ACK and CANCEL are never attempts. A non-2xx ACK shares its INVITE's branch (§17.1.1.3); a 2xx
  ACK is matched by Call-ID, From tag and CSeq number (§13.2.2.4); a CANCEL shares the branch of
  the INVITE it cancels (§9.1). Each is attached to the INVITE's exchange.
* Any other new transaction is a *retry* of an open exchange with the same client→server IP
  pair and method when one of these holds, tried in this order:
  its credentials echo a nonce one of that exchange's challenges issued under the same Call-ID
  (§22.4, RFC 7616 §3.4); same Call-ID and From tag with a higher CSeq (§8.1.3.5 requires a new
  CSeq for the retry); a changed Call-ID but the same From URI and tag (clients that restart
  the request); an echoed nonce alone (a new Call-ID *and* From tag).
  And the exchange's last attempt must have been answered with 401/407, or not answered yet
  while this request carries credentials (the challenge was lost from the capture).
* Otherwise it starts a new exchange — including a request with credentials that answers no
  open challenge (a cached nonce on a re-REGISTER, credentials reused in a dialog).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import CapturedMessage
from sipauth_analyzer.correlate.metrics import MetricsBuilder
from sipauth_analyzer.correlate.model import (
    NO_COUNTS,
    AuthExchange,
    Correlation,
    Outcome,
    PeerPair,
    Transaction,
    UnlistedExchanges,
    appended,
    exchange_messages,
)
from sipauth_analyzer.correlate.options import CorrelateOptions
from sipauth_analyzer.correlate.transactions import (
    BoundedTable,
    TagMemo,
    TransactionKey,
    branch_key,
)
from sipauth_analyzer.primitives import Note, NoteLevel
from sipauth_analyzer.sip.grammar import name_addr_uri
from sipauth_analyzer.sip.message import SipMessage

CHALLENGE_STATUSES = frozenset({401, 407})
NOTE_FRAME_LIMIT = 20  # frames listed in one aggregated note
EXPIRY_SWEEP_INTERVAL = 1.0  # seconds of capture time between sweeps of the timed tables
# Retired objects are dropped from the correlator's lists in one pass once there are this many
# and at least 1/COMPACT_SHARE of the message list's length: each pass over the lists is then
# paid for by that many retirements, even when plain exchanges are a small part of the traffic.
COMPACT_MIN_RETIRED = 4096
COMPACT_SHARE = 8
# RFC 3261 §17 64*T1: Timers B, F, H and J. A transaction answered this long ago gets no more
# retransmissions of its request or of its final response, so forgetting it loses nothing.
TRANSACTION_QUIET_AFTER_FINAL = 32.0

Direction = tuple[str, str]  # (client ip, server ip)


class _ExchangeState:
    """What correlation needs to know about an exchange while it can still be retried."""

    __slots__ = (
        "dialog_keys",
        "direction",
        "exchange",
        "from_keys",
        "last_activity",
        "last_cseq",
        "last_status",
        "live",
        "nonces",
        "open",
        "settled",
    )

    def __init__(
        self, exchange: AuthExchange, direction: Direction, cseq: int | None, now: float
    ) -> None:
        self.exchange = exchange
        self.direction = direction
        # The keys under which the retry indexes (_by_dialog, _by_from, _by_nonce) may point
        # here, one list per index: pairs of (index, key) cost 56 bytes more per key, about
        # ten keys per exchange of an auth storm.
        self.dialog_keys: list[tuple[object, ...]] = []
        self.from_keys: list[tuple[object, ...]] = []
        self.nonces: list[tuple[object, ...]] = []
        self.last_activity = now
        self.last_cseq = cseq
        self.last_status: int | None = None  # first final status of the last attempt
        self.open = True
        # Kept for the rules or let go: settled once, when it is closed and no table entry
        # leads here any more, or earlier when memory runs short (Correlator.reach_budget, shed).
        self.settled = False
        # Entries of the transaction and INVITE tables that lead here: while any is left a
        # message (response, retransmission, ACK, CANCEL) can still join the exchange.
        self.live = 0


class _Facts:
    """The header fields correlation reads, extracted once per message.

    SipMessage's convenience properties re-parse on every access; on the hot path each field is
    read here exactly once and passed along.
    """

    __slots__ = ("branch_key", "call_id", "cseq_method", "cseq_number", "from_line", "from_tag")

    def __init__(self, message: SipMessage, tags: TagMemo) -> None:
        first_line = message.first_line
        self.call_id = first_line("call-id")
        cseq = message.cseq  # parsed once, by the parser
        self.cseq_number = cseq[0] if cseq else None
        self.cseq_method = cseq[1] if cseq else None
        self.from_line = first_line("from")
        self.from_tag = tags.tag(self.from_line) if self.from_line else None
        self.branch_key = branch_key(
            first_line("via"), self.call_id, self.cseq_number, self.from_tag
        )


class _TxEntry:
    __slots__ = ("cseq_number", "final_status", "holds", "state", "tx")

    def __init__(
        self, tx: Transaction, state: _ExchangeState | None, cseq_number: int | None,
        holds: _ExchangeState | None = None,
    ) -> None:
        self.tx = tx
        self.state = state  # the exchange ``tx`` is an attempt of
        self.cseq_number = cseq_number
        self.final_status: int | None = None
        # The exchange this entry keeps unsealed: its own, or for a CANCEL the cancelled
        # INVITE's (a late answer to the CANCEL joins that exchange's transaction).
        self.holds = holds if holds is not None else state


@dataclass(slots=True)
class _NoteTally:
    """Aggregates repeated events into one note per kind and file."""

    count: int = 0
    frames: list[int] = field(default_factory=list)

    def add(self, frame: int) -> None:
        self.count += 1
        if len(self.frames) < NOTE_FRAME_LIMIT:
            self.frames.append(frame)


def decide_outcome(exchange: AuthExchange, last_cancelled: bool) -> Outcome:
    """How an exchange ended, from its last attempt's first final response (RFC 3261 §21)."""
    final = exchange.last.final
    status = final.status if final is not None else None
    if status is not None and 200 <= status < 300:
        return Outcome.SUCCEEDED  # a 2xx wins even a CANCEL race (§9.1)
    if status == 403:
        return Outcome.REJECTED
    if status == 487 or last_cancelled:
        return Outcome.CANCELLED
    if status in CHALLENGE_STATUSES:
        return Outcome.CHALLENGE_UNANSWERED
    if status is not None:
        return Outcome.FAILED
    return Outcome.NO_RESPONSE


class Correlator:
    """Feed messages in capture order with ``add``; ``finish`` returns the Correlation.

    ``retirable`` (given by the pipeline: the rule stage knows what its rules read) tells which
    *sealed* exchanges — closed, and no message can join them any more — no rule can report
    anything about. Once ``options.max_listed_plain_exchanges`` of those are kept, further
    ones are counted in the metrics and let go with their transactions and messages, and a
    ``correlate-plain-exchanges-unlisted`` note says how many. A flood of requests that never
    touch authentication then costs the open tables' memory, not the capture's.

    Once more than ``options.max_kept_messages`` messages are kept, no more diagnosable ones
    are: every exchange that seals from then on (or is still open at the end) is let go that
    way, whatever it holds (plain ones still fill their own listing cap, bounded by
    ``max_listed_plain_exchanges``), and so is every message that joins nothing. A
    ``correlate-exchanges-undiagnosed`` warning says the rules saw only the exchanges that ended
    before that point. Memory is then bounded by that budget and the open tables, however long
    the capture.
    """

    def __init__(
        self,
        options: CorrelateOptions,
        *,
        retirable: Callable[[AuthExchange], bool] | None = None,
    ) -> None:
        self.options = options
        self._retirable = retirable
        self._plain_kept = 0
        self._retired_messages = 0
        self._added = 0  # messages given to add(); minus _retired_messages, the ones kept
        self._undiagnosed = 0
        self._dropped_orphans = 0
        # (file, frame) of the first message past max_kept_messages, for the notes.
        self._budget_reached: tuple[str, int] | None = None
        # Messages held past which nothing more is kept: max_kept_messages, or -1 once
        # reach_budget() asked before any message came.
        self._kept_limit = options.max_kept_messages
        # What was reached, and what to do about it, when not max_kept_messages (reach_budget).
        self._budget_reason: str | None = None
        self._budget_advice = ""
        self._last_source: CapturedMessage | None = None
        # Ids of exchanges kept when they sealed; those never sealed are settled in finish().
        self._kept_sealed: set[int] = set()
        self._unlisted = UnlistedExchanges()
        # id() of retired exchanges, transactions and messages still referenced by the lists
        # below until the next _compact (alive until then, so no id is reused meanwhile).
        self._retired: set[int] = set()
        self._exchange_count = 0
        self._metrics = MetricsBuilder(options.max_tracked_nonces)
        self._messages: list[SipMessage] = []
        self._transactions: list[Transaction] = []
        self._exchanges: list[AuthExchange] = []
        self._orphans: list[SipMessage] = []
        self._tx: BoundedTable[TransactionKey, _TxEntry] = BoundedTable(
            options.max_transactions, options.transaction_timeout
        )
        # INVITE attempts by (client ip, Call-ID, From tag, CSeq number), to attach 2xx ACKs.
        self._invites: BoundedTable[
            tuple[str, str | None, str | None, int | None], _ExchangeState
        ] = BoundedTable(options.max_transactions, options.transaction_timeout)
        self._open: BoundedTable[int, _ExchangeState] = BoundedTable(
            options.max_open_exchanges, options.exchange_idle_timeout
        )
        # Retry-linking indexes; they only ever point at open exchanges (entries are removed
        # when an exchange closes), so their size is bounded by the open table's.
        self._by_nonce: dict[tuple[object, ...], _ExchangeState] = {}
        self._by_dialog: dict[tuple[object, ...], _ExchangeState] = {}
        self._by_from: dict[tuple[object, ...], _ExchangeState] = {}
        self._cancelled: set[int] = set()  # id() of attempts a CANCEL aimed at
        self._tags = TagMemo(options.max_memoized_tag_lines)
        self._tallies: dict[tuple[str, str], _NoteTally] = {}
        self._first_time: float | None = None
        self._last_time: float | None = None
        self._next_expiry = float("-inf")

    # -- input -------------------------------------------------------------------------------
    def add(self, message: SipMessage) -> None:
        source = message.source
        now = source.time
        self._messages.append(message)
        self._added += 1
        self._last_source = source
        if self._budget_reached is None and self._over_budget():
            self._budget_reached = (source.file, source.frame)
        if self._first_time is None or now < self._first_time:
            self._first_time = now
        if self._last_time is None or now > self._last_time:
            self._last_time = now
        if now >= self._next_expiry:
            # Sweeping once per second of capture time is enough: every decision that depends
            # on idleness re-checks the exact time (_accepts_retry).
            self._next_expiry = now + EXPIRY_SWEEP_INTERVAL
            self._expire(now)
        facts = _Facts(message, self._tags)
        if message.is_request:
            self._request(message, facts, now)
        else:
            self._response(message, facts, now)

    def _expire(self, now: float) -> None:
        for state in self._open.expire(now):
            self._close(state)
        for entry in self._tx.expire(now):
            self._release(entry.holds)
        for state in self._invites.expire(now):
            self._release(state)

    def _tally(self, kind: str, message: SipMessage) -> None:
        key = (kind, message.source.file)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _NoteTally()
        tally.add(message.source.frame)

    # -- requests ----------------------------------------------------------------------------
    def _request(self, message: SipMessage, facts: _Facts, now: float) -> None:
        method = message.method or ""
        source = message.source
        bkey = facts.branch_key
        cseq_number = facts.cseq_number
        if method == "ACK":
            self._ack(message, facts, now)
            return
        key: TransactionKey | None = (bkey, method, source.src.ip, source.dst.ip) if bkey else None
        if key is not None:
            entry = self._tx.get(key, now)
            if entry is not None:
                if entry.cseq_number == cseq_number:
                    # §17.1.2.2 / §17.1.1.2: the same request sent again is a retransmission.
                    entry.tx.retransmissions = appended(entry.tx.retransmissions, message)
                    if entry.state is not None:
                        self._touch(entry.state, now)
                    return
                # A different request with the same branch: §8.1.1.7 requires a unique branch
                # per transaction. Treat it as new; the note reaches the report.
                self._tally("correlate-branch-reused", message)
        tx = Transaction(request=message)
        state: _ExchangeState | None = None
        holds: _ExchangeState | None = None
        if method == "CANCEL":
            if bkey is not None:
                invite = self._tx.get((bkey, "INVITE", source.src.ip, source.dst.ip), now)
                if invite is not None and invite.state is not None:
                    holds = invite.state
                    exchange = holds.exchange
                    exchange.cancels = appended(exchange.cancels, tx)
                    self._cancelled.add(id(invite.tx))
                    self._touch(holds, now)
            if holds is None and self._budget_reached is not None:
                self._drop_unmatched(message)  # and its answers become orphans, dropped too
                return
        else:
            state = self._assign(tx, message, method, facts, now)
        self._transactions.append(tx)
        if key is not None:
            self._put_tx(key, _TxEntry(tx, state, cseq_number, holds), message, now)

    def _put_tx(
        self, key: TransactionKey, entry: _TxEntry, message: SipMessage, now: float
    ) -> None:
        replaced = self._tx.peek(key)
        if entry.holds is not None:
            entry.holds.live += 1
        evicted = self._tx.put(key, entry, now)
        if replaced is not None:
            self._release(replaced.holds)
        if evicted is not None:
            if (
                evicted.final_status is None
                or now - self._tx.evicted_touched < TRANSACTION_QUIET_AFTER_FINAL
            ):
                self._tally("correlate-transaction-table-full", message)
            else:
                self._tally("correlate-transaction-table-recycled", message)
            self._release(evicted.holds)

    def _put_invite(
        self, key: tuple[str, str | None, str | None, int | None], state: _ExchangeState,
        now: float,
    ) -> None:
        replaced = self._invites.peek(key)
        state.live += 1
        evicted = self._invites.put(key, state, now)
        self._release(replaced)
        self._release(evicted)

    def _ack(self, message: SipMessage, facts: _Facts, now: float) -> None:
        source = message.source
        bkey = facts.branch_key
        if bkey is not None:
            entry = self._tx.get((bkey, "INVITE", source.src.ip, source.dst.ip), now)
            if entry is not None and entry.state is not None:
                exchange = entry.state.exchange
                exchange.acks = appended(exchange.acks, message)
                return
        # A 2xx ACK is a transaction of its own with a new branch (§13.2.2.4) and may take
        # another route than the INVITE, so only the client address is part of the key.
        state = self._invites.get(
            (source.src.ip, facts.call_id, facts.from_tag, facts.cseq_number), now
        )
        if state is not None:
            state.exchange.acks = appended(state.exchange.acks, message)
        elif self._budget_reached is not None:
            self._drop_unmatched(message)

    def _assign(
        self, tx: Transaction, message: SipMessage, method: str, facts: _Facts, now: float
    ) -> _ExchangeState:
        source = message.source
        call_id = facts.call_id
        cseq_number = facts.cseq_number
        direction = (source.src.ip, source.dst.ip)
        has_credentials = message.has_header("authorization") or message.has_header(
            "proxy-authorization"
        )
        from_tag = facts.from_tag
        state: _ExchangeState | None = None
        nonces = [c.nonce for c in message.credentials if c.nonce] if has_credentials else []
        for nonce in nonces:
            # Stateless servers hand the same time-based nonce to every client, so an echoed
            # nonce is first looked up together with the Call-ID (two brute-force loops
            # running side by side stay apart), and alone only as a last resort.
            candidate = self._by_nonce.get((direction, method, nonce, call_id))
            if candidate is not None and self._accepts_retry(candidate, True, now):
                state = candidate
                break
        if state is None and call_id is not None:
            candidate = self._by_dialog.get((direction, method, call_id, from_tag))
            if (
                candidate is not None
                and self._accepts_retry(candidate, has_credentials, now)
                and cseq_number is not None
                and candidate.last_cseq is not None
                # Some clients resend the credentials without incrementing CSeq; rules flag it.
                and (
                    cseq_number > candidate.last_cseq
                    or (has_credentials and cseq_number == candidate.last_cseq)
                )
            ):
                state = candidate
        from_uri = name_addr_uri(facts.from_line) if from_tag and facts.from_line else None
        if state is None and from_tag:
            candidate = self._by_from.get((direction, method, from_uri, from_tag))
            if (
                candidate is not None
                and candidate.exchange.last.request.call_id != call_id
                and self._accepts_retry(candidate, has_credentials, now)
            ):
                state = candidate
        if state is None:
            for nonce in nonces:
                candidate = self._by_nonce.get((direction, method, nonce))
                if candidate is not None and self._accepts_retry(candidate, True, now):
                    state = candidate
                    break
        if state is None:
            self._exchange_count += 1
            self._metrics.register(PeerPair(client=source.src.ip, server=source.dst.ip))
            exchange = AuthExchange(
                id=self._exchange_count,
                method=method,
                client=source.src,
                server=source.dst,
                attempts=[tx],
                outcome=Outcome.NO_RESPONSE,  # decided in finish()
                call_ids=[call_id] if call_id is not None else [],
            )
            self._exchanges.append(exchange)
            state = _ExchangeState(exchange, direction, cseq_number, now)
            evicted = self._open.put(exchange.id, state, now)
            if evicted is not None:
                self._close(evicted)
                self._tally("correlate-open-exchanges-full", evicted.exchange.last.request)
        else:
            exchange = state.exchange
            exchange.attempts.append(tx)
            if call_id is not None and call_id not in exchange.call_ids:
                exchange.call_ids.append(call_id)
            state.last_cseq = cseq_number
            state.last_status = None
            self._touch(state, now)
        if call_id is not None:
            self._index(state, self._by_dialog, (direction, method, call_id, from_tag),
                        state.dialog_keys)
        if from_tag:
            self._index(state, self._by_from, (direction, method, from_uri, from_tag),
                        state.from_keys)
        if method == "INVITE":
            self._put_invite((source.src.ip, call_id, from_tag, cseq_number), state, now)
        return state

    def _accepts_retry(self, state: _ExchangeState, has_credentials: bool, now: float) -> bool:
        if not state.open or now - state.last_activity > self.options.exchange_idle_timeout:
            return False
        if state.last_status is None:
            return has_credentials
        return state.last_status in CHALLENGE_STATUSES

    # -- responses ---------------------------------------------------------------------------
    def _response(self, message: SipMessage, facts: _Facts, now: float) -> None:
        status = message.status
        bkey = facts.branch_key
        if facts.cseq_method is None or bkey is None or status is None:
            self._orphan(message)
            return
        source = message.source
        # The response travels server → client: the reverse of its request (§18.2.2).
        entry = self._tx.get((bkey, facts.cseq_method, source.dst.ip, source.src.ip), now)
        if entry is None:
            self._orphan(message)
            return
        entry.tx.add_response(message)
        state = entry.state
        if state is None:
            return
        self._touch(state, now)
        if status < 200 or entry.final_status is not None:
            return
        entry.final_status = status
        if state.exchange.attempts[-1] is not entry.tx:
            return  # a late answer to an earlier attempt changes nothing
        state.last_status = status
        if status not in CHALLENGE_STATUSES:
            self._close(state)
            return
        if not state.open:
            return
        limit = self.options.max_nonces_per_exchange
        method = state.exchange.method
        by_nonce = self._by_nonce
        nonces = state.nonces
        for challenge in message.challenges:
            if challenge.nonce:
                for key in (
                    (state.direction, method, challenge.nonce, facts.call_id),
                    (state.direction, method, challenge.nonce),
                ):
                    by_nonce[key] = state
                    nonces.append(key)
                while len(nonces) > 2 * limit:
                    old = nonces.pop(0)
                    if by_nonce.get(old) is state:
                        del by_nonce[old]

    # -- exchange state ----------------------------------------------------------------------
    def _touch(self, state: _ExchangeState, now: float) -> None:
        state.last_activity = max(state.last_activity, now)
        if state.open:
            self._open.get(state.exchange.id, now)

    @staticmethod
    def _index(
        state: _ExchangeState,
        table: dict[tuple[object, ...], _ExchangeState],
        key: tuple[object, ...],
        keys: list[tuple[object, ...]],
    ) -> None:
        """Point ``table[key]`` at open ``state``; ``keys`` is the state's list for ``table``."""
        if not state.open:
            return
        if table.get(key) is not state:
            table[key] = state
            keys.append(key)

    def _close(self, state: _ExchangeState) -> None:
        if not state.open:
            return
        state.open = False
        self._open.pop(state.exchange.id)
        for table, keys in (
            (self._by_dialog, state.dialog_keys),
            (self._by_from, state.from_keys),
            (self._by_nonce, state.nonces),
        ):
            for key in keys:
                if table.get(key) is state:
                    del table[key]
            keys.clear()
        if not state.live:
            self._settle_state(state)

    def _release(self, state: _ExchangeState | None) -> None:
        """A table entry leading to ``state`` is gone."""
        if state is None:
            return
        state.live -= 1
        if not state.live and not state.open:
            self._settle_state(state)

    def _settle_state(self, state: _ExchangeState) -> None:
        if not state.settled:
            state.settled = True
            self._settle(state.exchange)

    def _over_budget(self) -> bool:
        return self._added - self._retired_messages > self._kept_limit

    # -- memory pressure (pipeline.MemoryGuard) ----------------------------------------------
    @property
    def held_messages(self) -> int:
        """Messages added and not let go: kept for the rules, or held by open exchanges and
        transactions. What an analysis's memory grows with."""
        return self._added - self._retired_messages

    @property
    def budget_reached(self) -> bool:
        return self._budget_reached is not None

    def reach_budget(self, reason: str, advice: str) -> None:
        """Keep nothing more for the rules from the last message added on, as if
        ``max_kept_messages`` had been reached there, because of ``reason`` (memory runs
        short). ``advice`` ends the notes: what the user can do about it.

        Every exchange begun before this point is kept for the rules. The open ones are closed
        early: on an auth storm nearly every exchange is open, waiting
        ``exchange_idle_timeout`` for a retry that never comes, and each would otherwise end
        after this point and go undiagnosed, so the rules would see nothing. A retry of one
        after this point starts a new exchange. Closed ones still awaiting a late answer
        (a retransmitted final response) are settled now too, and still take that answer.
        Nothing happens when the budget was reached already.
        """
        if self._budget_reached is not None:
            return
        self._budget_reason = reason
        self._budget_advice = advice
        for state in self._open.values():
            self._close_early(state, "correlate-exchanges-closed-early")
        for entry in self._tx.values():
            if entry.holds is not None:
                self._settle_state(entry.holds)
        for state in self._invites.values():
            self._settle_state(state)
        if self._last_source is None:
            self._kept_limit = -1  # reached with the first message
        else:
            self._budget_reached = (self._last_source.file, self._last_source.frame)

    def shed(self, max_held: int) -> int:
        """Past the budget, close the open exchanges idle longest and let them go, until at most
        ``max_held`` messages are held or none is open; returns how many were closed.

        After the budget is reached exchanges are let go when they end, but an auth storm's
        stay open for ``exchange_idle_timeout`` in case a retry comes, so without this the
        open ones alone could outgrow the memory. What shedding costs: a retry or late
        response of a shed exchange starts a new exchange or is dropped as an orphan; the
        metrics count it either way. Before the budget is reached it does nothing (closing
        would keep them, freeing nothing).
        """
        if self._budget_reached is None:
            return 0
        closed = 0
        while self.held_messages > max_held:
            state = self._open.oldest()
            if state is None:
                break
            self._close_early(state, "correlate-exchanges-shed")
            closed += 1
        return closed

    def _close_early(self, state: _ExchangeState, kind: str) -> None:
        """Close ``state`` before it idles out and settle it now: kept before the budget is
        reached, let go after (its transaction entries are forgotten, so that nothing joins an
        exchange let go)."""
        self._tally(kind, state.exchange.last.request)
        self._close(state)
        if state.settled:
            return
        if self._budget_reached is not None:
            self._forget_entries(state)
        self._settle_state(state)

    def _forget_entries(self, state: _ExchangeState) -> None:
        """Drop the transaction and INVITE table entries that lead to ``state``'s exchange."""
        exchange = state.exchange
        for transaction in (*exchange.attempts, *exchange.cancels):
            request = transaction.request
            facts = _Facts(request, self._tags)
            source = request.source
            if facts.branch_key is not None:
                key = (facts.branch_key, request.method or "", source.src.ip, source.dst.ip)
                entry = self._tx.peek(key)
                if entry is not None and entry.tx is transaction:
                    self._tx.pop(key)
            if request.method == "INVITE":
                invite_key = (source.src.ip, facts.call_id, facts.from_tag, facts.cseq_number)
                if self._invites.peek(invite_key) is state:
                    self._invites.pop(invite_key)

    def _orphan(self, message: SipMessage) -> None:
        if self._budget_reached is not None:
            self._drop_unmatched(message)
            return
        self._orphans.append(message)

    def _drop_unmatched(self, message: SipMessage) -> None:
        """Past the budget: a message that joins nothing (a response to no request, an ACK or
        CANCEL for no INVITE) is counted and let go."""
        self._dropped_orphans += 1
        self._tally("correlate-orphans-undiagnosed", message)
        self._retired.add(id(message))
        self._retired_messages += 1
        self._maybe_compact()

    def _settle(self, exchange: AuthExchange) -> None:
        """``exchange`` is sealed (nothing can join it any more) or the capture ended: keep it
        for the rules, or let it go. A plain one goes once max_listed_plain_exchanges are
        listed, budget or not; any other goes once the budget was reached, so that the rules
        see the exchanges that ended before that point, a coherent part of the capture."""
        retirable = self._retirable
        if retirable is not None and retirable(exchange):
            if self._plain_kept < self.options.max_listed_plain_exchanges:
                self._plain_kept += 1
                self._kept_sealed.add(exchange.id)
                return
            self._retire(exchange, "correlate-plain-exchanges-unlisted", plain=True)
        elif self._budget_reached is not None:
            self._undiagnosed += 1
            self._retire(exchange, "correlate-exchanges-undiagnosed", plain=False)
        else:
            self._kept_sealed.add(exchange.id)

    def _retire(self, exchange: AuthExchange, kind: str, *, plain: bool) -> None:
        cancelled = self._cancelled
        exchange.outcome = decide_outcome(exchange, id(exchange.last) in cancelled)
        counts = self._metrics.add(exchange)
        self._tally(kind, exchange.first.request)
        retired = self._retired
        retired.add(id(exchange))
        for transaction in (*exchange.attempts, *exchange.cancels):
            # A retired transaction's id may be reused by a new one once it is freed.
            cancelled.discard(id(transaction))
            retired.add(id(transaction))
        messages = exchange_messages(exchange)
        retired.update(id(m) for m in messages)
        self._retired_messages += len(messages)
        times = [m.source.time for m in messages]
        self._unlisted.add(
            exchange,
            min(times),
            max(times),
            exchange.outcome is Outcome.SUCCEEDED,
            plain=plain,
            counts=NO_COUNTS if plain else counts,
        )
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        retired = self._retired
        if (
            len(retired) >= COMPACT_MIN_RETIRED
            and COMPACT_SHARE * len(retired) >= len(self._messages)
        ):
            self._compact()

    def _compact(self) -> None:
        """Drop retired objects from the lists (one pass each; amortised O(1) per retired
        object, see COMPACT_SHARE)."""
        retired = self._retired
        if not retired:
            return
        self._messages = [m for m in self._messages if id(m) not in retired]
        self._transactions = [t for t in self._transactions if id(t) not in retired]
        self._exchanges = [e for e in self._exchanges if id(e) not in retired]
        if self._dropped_orphans:
            self._orphans = [m for m in self._orphans if id(m) not in retired]
        retired.clear()

    # -- output ------------------------------------------------------------------------------
    def finish(self) -> Correlation:
        """The Correlation of everything added. Call once: it ends the correlator's life."""
        self._compact()  # so that every exchange below is one still kept
        if self._budget_reached is not None:
            # Exchanges still open at the end never sealed: past the budget they go too, or
            # the rules would see them without the exchanges let go around them.
            for exchange in list(self._exchanges):
                if exchange.id not in self._kept_sealed:
                    self._settle(exchange)
            self._compact()
        for exchange in self._exchanges:
            exchange.outcome = decide_outcome(exchange, id(exchange.last) in self._cancelled)
        # Before the metrics, whose records would otherwise add to the analysis's peak.
        self._forget_tables()
        metrics = self._metrics
        for exchange in self._exchanges:
            metrics.add(exchange)
        metrics_by_pair, overall = metrics.result(self._first_time, self._last_time)
        correlation = Correlation(
            messages=self._messages,
            transactions=self._transactions,
            exchanges=self._exchanges,
            orphan_responses=self._orphans,
            metrics_by_pair=metrics_by_pair,
            overall=overall,
            notes=self._notes(),
            first_time=self._first_time,
            last_time=self._last_time,
            unlisted_messages=self._retired_messages,
            unlisted=self._unlisted,
            undiagnosed_exchanges=self._undiagnosed,
            undiagnosed_orphans=self._dropped_orphans,
            budget_reason=self._budget_reason if self._budget_reached is not None else None,
        )
        # The lists now belong to the Correlation returned.
        self._messages, self._transactions, self._exchanges, self._orphans = [], [], [], []
        return correlation

    def _forget_tables(self) -> None:
        """Empty the tables that only serve correlation, once nothing can be added.

        The metrics and then the rules run next, while the caller may still hold this
        correlator: the open tables, retry indexes and memos (about 45 MiB on a
        200,000-message auth storm, every exchange of which is still open at its end) would
        otherwise stay alive beside what they build, at the analysis's peak. It also breaks
        the one reference cycle, an open exchange's state and the retry indexes pointing at
        each other, so that a dropped result is freed by reference counting (the pipeline
        pauses the collector, see docs/performance.md). The tables' counters stay: the notes
        are built from them.
        """
        for index in (self._by_nonce, self._by_dialog, self._by_from):
            index.clear()
        for table in (self._open, self._tx, self._invites):
            table.clear()
        self._tags.clear()
        self._cancelled.clear()
        self._kept_sealed.clear()
        self._retired.clear()

    def _budget_place(self, note_file: str) -> str:
        if self._budget_reached is None:
            return "?"
        file, frame = self._budget_reached
        return f"frame {frame}" if file == note_file else f"frame {frame} of {file}"

    def _notes(self) -> list[Note]:
        options = self.options
        budget = self._budget_reason or f"max_kept_messages={options.max_kept_messages}"
        advice = self._budget_advice or (
            "raise it (--max-kept-messages, or max-kept-messages in sipauth.toml) if the machine "
            "has the memory (each message costs 1.5-2 KB), or cut the capture (editcap -A/-B) "
            "around the time to diagnose"
        )
        explain = {
            "correlate-branch-reused": (
                "{n} request(s) reused the Via branch of an earlier, different request; RFC 3261 "
                "§8.1.1.7 requires a new branch per transaction, so responses may be misattributed",
                NoteLevel.WARNING,
            ),
            "correlate-transaction-table-full": (
                f"{{n}} transaction(s) were forgotten early because max_transactions="
                f"{options.max_transactions} was reached, while a response or retransmission "
                "could still come; late ones show as orphans or new requests",
                NoteLevel.WARNING,
            ),
            "correlate-transaction-table-recycled": (
                f"max_transactions={options.max_transactions} was reached: {{n}} answered "
                "transaction(s) were forgotten to make room, each quiet for more than 64*T1 "
                "(32 s) after its final response, so nothing could still come for it",
                NoteLevel.INFO,
            ),
            "correlate-open-exchanges-full": (
                f"{{n}} auth exchange(s) were closed early because max_open_exchanges="
                f"{options.max_open_exchanges} was reached; a later retry of one starts a new"
                " exchange",
                NoteLevel.WARNING,
            ),
            "correlate-plain-exchanges-unlisted": (
                "{n} exchange(s) that never touched authentication (no challenge, no "
                "credentials, nothing any rule reads) count in the metrics and in filtered views "
                "but are not listed: "
                f"max_listed_plain_exchanges={options.max_listed_plain_exchanges} were listed "
                "already",
                NoteLevel.INFO,
            ),
            "correlate-exchanges-undiagnosed": (
                f"{budget} was reached at {{reached}}: "
                "{n} exchange(s) that ended after that, or were still open at the end, count in "
                "the metrics, the verdict and filtered views, but the rules did not see them, so "
                "findings cover the exchanges that ended before that point only; "
                + advice,
                NoteLevel.WARNING,
            ),
            "correlate-orphans-undiagnosed": (
                f"{budget} was reached at {{reached}}: "
                "{n} message(s) that joined nothing (responses to no request, ACKs or CANCELs for "
                "no INVITE) came after that and were not kept for the rules",
                NoteLevel.WARNING,
            ),
            "correlate-exchanges-closed-early": (
                f"{budget} was reached at {{reached}}: the {{n}} auth exchange(s) open then were "
                "closed early and kept for the rules; a retry of one after that point starts a "
                "new exchange",
                NoteLevel.INFO,
            ),
            "correlate-exchanges-shed": (
                f"{budget} was reached at {{reached}}: {{n}} auth exchange(s) were closed "
                "early afterwards, those idle longest first, to stay within it; they count in the "
                "metrics but were not diagnosed, and a retry or late answer of one starts a new "
                "exchange or is dropped",
                NoteLevel.WARNING,
            ),
        }
        notes: list[Note] = []
        for (kind, file), tally in self._tallies.items():
            template, level = explain[kind]
            notes.append(
                Note(
                    kind=kind,
                    detail=template.format(n=tally.count, reached=self._budget_place(file)),
                    level=level,
                    frames=tuple(tally.frames),
                    file=file,
                )
            )
        return notes
