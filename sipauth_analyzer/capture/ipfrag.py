"""IPv4 and IPv6 fragment reassembly, bounded in count and evicted by capture time.

Datagrams are keyed by (source, destination, identification, protocol) for IPv4 (RFC 791 §3.2)
and by (source, destination, identification) for IPv6 (RFC 8200 §4.5). Fragments may arrive out
of order or more than once. Where fragments overlap, the bytes that arrived first are kept and a
note is raised: deterministic, and what Linux did for IPv4 before it began dropping such
datagrams; RFC 5722 forbids overlap in IPv6 altogether, so overlap is always worth reporting.

A datagram is complete when every byte from 0 to the end of the fragment with MF=0 is present.
One whose fragments never all arrive (timeout by capture time, end of file, or eviction when
too many are open) is reported as an ``ip-fragments-incomplete`` note and handed back as an
incomplete :class:`Datagram` holding the bytes contiguous from offset 0, so the caller can still
show a partial UDP message: this is how a firewall that drops the second fragment of a large
authenticated INVITE becomes visible. Such a datagram is handed back after later frames were
read, carrying its last fragment's frame: ``held_floor`` tells the reader how far back that can
be, so it can restore capture order with a bounded buffer.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from sipauth_analyzer.capture.model import CaptureOptions
from sipauth_analyzer.primitives import Note, NoteLevel, NoteSink

#: A reassembled IP payload cannot exceed this (IPv4 total length is 16 bits, RFC 791 §3.1;
#: IPv6 fragment offsets are too). A fragment reaching past it is malformed (ping of death).
MAX_DATAGRAM_PAYLOAD = 65535

PROTOCOL_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 58: "ICMPv6", 132: "SCTP"}

FragmentKey = tuple[int, str, str, int, int]


@dataclass(frozen=True, slots=True)
class Datagram:
    """A reassembled (``complete``) or abandoned (not ``complete``) IP datagram.

    ``payload`` is the IP payload (for IPv6, the fragmentable part: it may start with extension
    headers). When not complete it is the prefix contiguous from offset 0 (empty when the first
    fragment never arrived). ``proto`` is the IPv4 protocol or the IPv6 next header of the
    fragmentable part. ``frame`` is the last frame that contributed, ``frames`` all of them in
    capture order.
    """

    version: int
    src: str
    dst: str
    ident: int
    proto: int
    payload: bytes
    frames: tuple[int, ...]
    frame: int
    time: float
    complete: bool
    truncated: bool = False  # some fragment was cut by the capture's snap length
    expected_size: int | None = None  # end offset from the MF=0 fragment, when it arrived


@dataclass(slots=True)
class _Pending:
    version: int
    src: str
    dst: str
    ident: int
    proto: int
    first_time: float
    last_time: float
    frames: list[int] = field(default_factory=list)
    buffer: bytearray = field(default_factory=bytearray)
    covered: list[tuple[int, int]] = field(default_factory=list)  # sorted, disjoint [start, end)
    end: int | None = None
    truncated: bool = False
    overlap_noted: bool = False
    # (offset, length, crc32) of each fragment: tells a late duplicate of this datagram from a
    # new datagram that reuses its IP ID once it is complete.
    fingerprints: set[tuple[int, int, int]] = field(default_factory=set)

    def contiguous_prefix(self) -> bytes:
        if self.covered and self.covered[0][0] == 0:
            return bytes(self.buffer[: self.covered[0][1]])
        return b""

    def covered_bytes(self) -> int:
        return sum(e - s for s, e in self.covered)


def _insert(pending: _Pending, offset: int, data: bytes) -> tuple[bool, bool]:
    """Copy ``data`` at ``offset`` into the gaps only. Returns (added bytes, conflicting)."""
    start, stop = offset, offset + len(data)
    if stop > len(pending.buffer):
        pending.buffer.extend(bytes(stop - len(pending.buffer)))
    added = False
    conflict = False
    cursor = start
    merged: list[tuple[int, int]] = []
    for s, e in pending.covered:
        if e <= start or s >= stop:
            continue
        # bytes [max(s,start), min(e,stop)) already present: first wins, but compare.
        lo, hi = max(s, start), min(e, stop)
        if pending.buffer[lo:hi] != data[lo - start : hi - start]:
            conflict = True
        if cursor < lo:
            pending.buffer[cursor:lo] = data[cursor - start : lo - start]
            added = True
        cursor = max(cursor, hi)
    if cursor < stop:
        pending.buffer[cursor:stop] = data[cursor - start :]
        added = True
    # merge [start, stop) into the coverage list
    new_s, new_e = start, stop
    for s, e in pending.covered:
        if e < new_s or s > new_e:
            merged.append((s, e))
        else:
            new_s, new_e = min(s, new_s), max(e, new_e)
    merged.append((new_s, new_e))
    merged.sort()
    pending.covered = merged
    return added, conflict


class IpReassembler:
    """Open datagrams of one capture file. ``add`` returns datagrams that became ready."""

    def __init__(self, options: CaptureOptions, notes: NoteSink, file: str) -> None:
        self._options = options
        self._notes = notes
        self._file = file
        self._pending: dict[FragmentKey, _Pending] = {}
        # Recently completed keys and when: a late duplicate of one of their fragments (a
        # retransmission or a packet captured twice) must not open a datagram that would then
        # be reported incomplete. Bounded like the open table.
        # Recently completed datagrams: completion time and their fragments' fingerprints.
        self._completed: OrderedDict[
            FragmentKey, tuple[float, frozenset[tuple[int, int, int]]]
        ] = OrderedDict()
        # (first frame, key, datagram) per datagram opened, in opening order; entries whose
        # datagram is no longer open are skipped lazily (see ``held_floor``). Public so the
        # reader's per-message fast path can test it without a call: empty means nothing is
        # open (non-empty may still be only stale entries). Mutated in place only.
        self.opened: deque[tuple[int, FragmentKey, _Pending]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        *,
        version: int,
        src: str,
        dst: str,
        ident: int,
        proto: int,
        offset: int,
        more_fragments: bool,
        payload: bytes,
        frame: int,
        time: float,
        truncated: bool = False,
    ) -> list[Datagram]:
        """Add one fragment. Returns the completed datagram and any evicted ones (incomplete)."""
        ready: list[Datagram] = []
        if offset + len(payload) > MAX_DATAGRAM_PAYLOAD:
            self._note(
                "ip-fragment-invalid",
                f"IPv{version} fragment {src} → {dst} id 0x{ident:x} reaches byte "
                f"{offset + len(payload)}, past the {MAX_DATAGRAM_PAYLOAD}-byte limit; ignored",
                (frame,))
            return ready
        # IPv6 keys ignore the protocol: only the first fragment's next header counts.
        key: FragmentKey = (version, src, dst, ident, proto if version == 4 else -1)
        pending = self._pending.get(key)
        fingerprint = (offset, len(payload), zlib.crc32(payload))
        if pending is None:
            done = self._completed.get(key)
            if done is not None:
                done_at, fragments = done
                # Only a true late duplicate is dropped. A busy host's 16-bit IP ID wraps in
                # seconds (Linux shares the counter with the RTP it sends), so the same key soon
                # names a new datagram — often the next large authenticated INVITE.
                recent = abs(time - done_at) <= self._options.ip_reassembly_timeout
                if recent and fingerprint in fragments:
                    return ready
                del self._completed[key]
            if len(self._pending) >= self._options.max_ip_reassemblies:
                ready.extend(self._evict_oldest())
            pending = _Pending(version, src, dst, ident, proto, time, time)
            self._pending[key] = pending
            self._remember_opened(frame, key, pending)
        if offset == 0 and version == 6:
            pending.proto = proto
        pending.last_time = time
        pending.truncated = pending.truncated or truncated
        pending.fingerprints.add(fingerprint)
        added, conflict = _insert(pending, offset, payload)
        if not more_fragments:
            stop = offset + len(payload)
            if pending.end is None:
                pending.end = stop
                if pending.covered[-1][1] > stop:
                    conflict = True  # earlier fragments reach past the declared end
            elif pending.end != stop:
                conflict = True
        if conflict and not pending.overlap_noted:
            pending.overlap_noted = True
            self._note(
                "ip-fragments-overlap",
                f"IPv{version} datagram {src} → {dst} id 0x{ident:x}: fragments overlap "
                "with different bytes; the bytes that arrived first were kept", (frame,))
        if added or not pending.frames:
            pending.frames.append(frame)
        end = pending.end
        if end is not None and pending.covered[0][0] == 0 and pending.covered[0][1] >= end:
            del self._pending[key]
            self._completed[key] = (time, frozenset(pending.fingerprints))
            if len(self._completed) > self._options.max_ip_reassemblies:
                self._completed.popitem(last=False)
            # Bytes past the MF=0 fragment's end conflicted with it (noted above): dropped.
            ready.append(Datagram(
                version, src, dst, ident, pending.proto, bytes(pending.buffer[:end]),
                tuple(pending.frames), frame, time, True, pending.truncated, end))
        return ready

    def held_floor(self) -> int | None:
        """The smallest frame a datagram handed back in the future can carry, or None.

        A datagram carries the frame of its last contributing fragment, never earlier than the
        fragment that opened it; datagrams open in frame order, so the oldest one still open
        gives the bound.
        """
        opened = self.opened
        pending = self._pending
        while opened:
            first_frame, key, datagram = opened[0]
            if pending.get(key) is datagram:
                return first_frame
            opened.popleft()
        return None

    def _remember_opened(self, frame: int, key: FragmentKey, datagram: _Pending) -> None:
        opened = self.opened
        opened.append((frame, key, datagram))
        # Datagrams completed behind a long-lived one leave stale entries; compact them so the
        # queue stays within a small multiple of the open table (max_ip_reassemblies).
        if len(opened) > 2 * len(self._pending) + 64:
            live = self._pending
            kept = [entry for entry in opened if live.get(entry[1]) is entry[2]]
            opened.clear()
            opened.extend(kept)

    def _abandon(self, key: FragmentKey, reason: str) -> Datagram:
        pending = self._pending.pop(key)
        frames = tuple(pending.frames)
        proto_name = PROTOCOL_NAMES.get(pending.proto, str(pending.proto))
        size = f"{pending.end}" if pending.end is not None else "an unknown number of"
        self._note(
            "ip-fragments-incomplete",
            f"IPv{pending.version} datagram {pending.src} → {pending.dst} id "
            f"0x{pending.ident:x} ({proto_name}): {len(frames)} fragment(s) arrived "
            f"covering {pending.covered_bytes()} of {size} bytes; {reason}", frames)
        return Datagram(
            pending.version, pending.src, pending.dst, pending.ident, pending.proto,
            pending.contiguous_prefix(), frames, frames[-1] if frames else 0,
            pending.last_time, False, pending.truncated, pending.end)

    def _evict_oldest(self) -> list[Datagram]:
        limit = self._options.max_ip_reassemblies
        self._notes.add(Note(
            kind="ip-reassembly-limit",
            detail=f"more than max_ip_reassemblies={limit} IP datagrams were being reassembled "
            "at once; the oldest were given up as incomplete",
            file=self._file), once=f"ip-reassembly-limit:{self._file}")
        key = next(iter(self._pending))
        return [self._abandon(key, f"evicted because max_ip_reassemblies={limit} was exceeded")]

    def expire(self, now: float) -> list[Datagram]:
        """Give up datagrams whose first fragment is older than the reassembly timeout."""
        timeout = self._options.ip_reassembly_timeout
        stale = [k for k, p in self._pending.items() if now - p.first_time > timeout]
        return [self._abandon(k, f"the rest did not arrive within {timeout:g} s of capture time")
                for k in stale]

    def finish(self) -> list[Datagram]:
        """End of the capture file: everything still open is incomplete."""
        return [self._abandon(k, "the capture ended before the rest arrived")
                for k in list(self._pending)]

    def _note(self, kind: str, detail: str, frames: tuple[int, ...]) -> None:
        # Repeats are capped per kind and file by the sink (CaptureOptions.max_notes_per_kind).
        self._notes.add(Note(kind=kind, detail=detail, level=NoteLevel.WARNING, frames=frames,
                             file=self._file))
