"""The optional ``--engine tshark`` capture engine: Wireshark's dissectors instead of ours.

``read_messages_tshark`` yields the same :class:`CapturedMessage` stream as the native
``read_messages``, but lets tshark do link layers, IP reassembly, TCP/TLS/WebSocket reassembly and
SIP framing. Its one unique ability is **decrypting SIP over TLS** (RFC 3261 §26.2, port 5061) or
secure WebSocket (RFC 7118) from an NSS key log file (``SSLKEYLOGFILE``), which tshark reads with
``-o tls.keylog_file:PATH``.

Why tshark is driven directly (``subprocess``, argument list, no shell) and not through pyshark:
pyshark 0.6 loses every SIP message but the first when one TCP segment carries several (its JSON
layer model keeps one ``sip`` layer per packet; checked on ``tcp_coalesced.pcap``), it runs its
own asyncio event loop and subprocess management, and it hides tshark's exit status and stderr,
which we need to turn an unreadable file into a one-line :class:`CaptureError`. tshark's own JSON
(``-T json -x --no-duplicate-keys``) gives every SIP message of a frame as a ``sip_raw`` entry:
the exact bytes of that message (start line, headers, CRLFCRLF, body) taken from the reassembled
/ decrypted / unmasked buffer, so nothing has to be rebuilt from dissected text.

Output is read packet by packet: tshark pretty-prints one packet object per block that ends with a
line that is exactly ``  }`` or ``  },`` (JSON strings never contain raw newlines), so memory is
bounded by :attr:`TsharkOptions.max_packet_json`, not by the capture (tshark's own reassembly
tables are tshark's business). Packet counts, byte totals and first/last times come from
``capinfos`` (no dissection) so stats cover the whole file, not just the SIP frames; its byte
total counts packets as they were on the wire, so it exceeds the native engine's for a
snap-length-truncated capture.

Where the engines differ, by tshark's design (Wireshark 4.0): no HEP dissector (use the native
engine); a datagram missing a fragment yields nothing (the native engine yields the flagged
partial message); SIP over TCP framed by the compact ``l:`` Content-Length is not reassembled; a
duplicated IP fragment is listed in ``frames`` and counted in ``ip_fragments``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sipauth_analyzer.capture.files import CaptureError, expand_sources, truncated_note
from sipauth_analyzer.capture.model import (
    FLAG_IP_REASSEMBLED,
    FLAG_TCP_REASSEMBLED,
    FLAG_TRUNCATED,
    FLAG_WEBSOCKET,
    CapturedMessage,
    CaptureOptions,
    CaptureStats,
)
from sipauth_analyzer.primitives import Endpoint, Note, NoteLevel, NoteSink, Transport

TSHARK_MISSING = "tshark engine needs tshark: apt-get install tshark"

# Preferences pinned on the command line so a user's Wireshark profile cannot change what we see.
# Reassembly must be on for SIP over TCP/TLS framed by Content-Length (RFC 3261 §18.3) and for
# fragmented UDP (RFC 3261 §18.1.1 allows UDP messages above the MTU).
_PINNED_PREFERENCES: tuple[str, ...] = (
    "ip.defragment:TRUE",
    "ipv6.defragment:TRUE",
    "tcp.desegment_tcp_streams:TRUE",
    # Off by default in Wireshark 4.0: without it a segment that arrives before its predecessor
    # is never joined to it, and the SIP message it belongs to is lost.
    "tcp.reassemble_out_of_order:TRUE",
    "tls.desegment_ssl_records:TRUE",
    "tls.desegment_ssl_application_data:TRUE",
    "sip.desegment_headers:TRUE",
    "sip.desegment_body:TRUE",
)

# Only these protocols' fields are printed (-j): enough for endpoints, frames and the SIP bytes,
# without the per-header trees that make tshark's JSON ten times larger.
_JSON_PROTOCOLS = (
    "frame ip ipv6 udp tcp sctp tls websocket sip "
    "ip.fragments ip.fragment ipv6.fragments ipv6.fragment tcp.segments tcp.segment"
)

# ClientHello frames are requested too, so TLS we cannot read is counted and explained.
_DISPLAY_FILTER = "sip || tls.handshake.type == 1"

_IP_LAYERS = ("ip", "ipv6")
_TRANSPORT_LAYERS: dict[str, Transport] = {
    "udp": Transport.UDP,
    "tcp": Transport.TCP,
    "sctp": Transport.SCTP,
}
_ENCRYPTED_LAYERS = ("tls", "dtls")
_MAX_JSON_DEPTH = 8  # how deep fragment lists are searched for inside an IP layer


@dataclass(frozen=True, slots=True)
class TsharkOptions:
    """Named limits and program paths of the tshark engine (see CaptureOptions for the rest)."""

    tshark: str = "tshark"  # program name or path
    capinfos: str = "capinfos"  # ships with tshark (wireshark-common); used for packet counts
    max_packet_json: int = 16 << 20  # characters of tshark JSON per packet; more → skipped, noted
    max_sip_per_frame: int = 256  # SIP messages taken from one frame; more → the rest noted
    max_stderr: int = 64 << 10  # bytes of tshark's stderr kept for error messages
    probe_timeout: float = 300.0  # seconds capinfos may take on one file before we give up


def read_messages_tshark(
    sources: Sequence[str],
    options: CaptureOptions,
    notes: NoteSink,
    stats: CaptureStats,
    *,
    tls_keylog: str | None = None,
    decode_as: Sequence[str] = (),
    tshark_options: TsharkOptions | None = None,
) -> Iterator[CapturedMessage]:
    """Every SIP message tshark dissects in every source, in capture order, file after file.

    ``decode_as`` entries are tshark ``-d`` rules, e.g. ``"udp.port==5080,sip"``. Raises
    :class:`CaptureError` before yielding anything when tshark is missing, the key log does not
    exist or a source cannot be read; a tshark failure in the middle of a file (other than a
    cut-short file, which becomes a ``capture-truncated`` note) also raises CaptureError.
    """
    topts = tshark_options or TsharkOptions()
    tshark = shutil.which(topts.tshark)
    if tshark is None:
        raise CaptureError(TSHARK_MISSING)
    if tls_keylog is not None and not os.path.isfile(tls_keylog):
        raise CaptureError(f"{tls_keylog}: TLS key log file not found")
    if tls_keylog is not None and not os.access(tls_keylog, os.R_OK):
        raise CaptureError(f"{tls_keylog}: TLS key log file is not readable")
    paths = _resolve_sources(sources, notes)
    summaries = [_summarise(path, topts) for path in paths]  # fail early, before any output
    command = _tshark_command(tshark, tls_keylog, decode_as)
    for path, summary in zip(paths, summaries, strict=True):
        stats.files.append(path)
        _add_summary(stats, summary)
        yield from _read_one(command, path, options=options, topts=topts, notes=notes,
                             stats=stats, tls_keylog=tls_keylog)


def tshark_available(tshark: str = "tshark") -> bool:
    """True when the tshark program can be found (for tests and ``--engine`` help)."""
    return shutil.which(tshark) is not None


# --- running tshark ---------------------------------------------------------------------------


def _resolve_sources(sources: Sequence[str], notes: NoteSink) -> list[str]:
    """Directories expand like the native engine's; explicit files may be any tshark format."""
    paths: list[str] = []
    for source in sources:
        if source == "-":
            raise CaptureError("the tshark engine reads capture files, not standard input")
        if os.path.isdir(source):
            paths.extend(expand_sources([source], notes))
            continue
        if not os.path.exists(source):
            raise CaptureError(f"{source}: no such file or directory")
        if not os.access(source, os.R_OK):
            raise CaptureError(f"{source}: permission denied")
        paths.append(source)
    return paths


def _tshark_command(tshark: str, tls_keylog: str | None, decode_as: Sequence[str]) -> list[str]:
    command = [tshark, "-n", "-Q"]
    for preference in _PINNED_PREFERENCES:
        command += ["-o", preference]
    if tls_keylog is not None:
        command += ["-o", f"tls.keylog_file:{os.path.abspath(tls_keylog)}"]
    for rule in decode_as:
        command += ["-d", rule]
    command += ["-Y", _DISPLAY_FILTER, "-T", "json", "-x", "--no-duplicate-keys",
                "-j", _JSON_PROTOCOLS]
    return command


def _one_line_reason(stderr: str, program: str) -> str:
    """tshark/capinfos's last meaningful stderr line, without the program prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Running as user")
             and not line.startswith("(will continue anyway")]
    if not lines:
        return f"{program} failed"
    reason = lines[-1]
    for prefix in (f"{program}: ", "tshark: ", "capinfos: "):
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
    return reason


@dataclass(frozen=True, slots=True)
class _FileSummary:
    """What capinfos says about one file (all None when capinfos is unavailable)."""

    packets: int | None
    data_bytes: int | None
    first_time: float | None
    last_time: float | None
    encapsulation: str | None


def _summarise(path: str, topts: TsharkOptions) -> _FileSummary:
    """capinfos -T (table) -r (no header) -M (exact numbers): counts without dissecting."""
    capinfos = shutil.which(topts.capinfos)
    if capinfos is None:
        return _FileSummary(None, None, None, None, None)
    try:
        done = subprocess.run(
            [capinfos, "-T", "-r", "-M", "-c", "-d", "-S", "-a", "-e", "-E", path],
            capture_output=True, text=True, errors="replace", timeout=topts.probe_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CaptureError(f"{path}: capinfos took more than {topts.probe_timeout:g} s") from exc
    except OSError as exc:
        raise CaptureError(f"{path}: cannot run capinfos: {exc.strerror}") from exc
    row = next((line for line in done.stdout.splitlines() if line.strip()), "")
    cells = row.split("\t")
    if len(cells) < 6:
        reason = _reason_about(path, _one_line_reason(done.stderr, "capinfos"))
        raise CaptureError(f"{path}: {reason}")
    # A cut-short file still gets a row (rc 2): tshark's pass reports the truncation as a note.
    return _FileSummary(
        packets=_int(cells[2]),
        data_bytes=_int(cells[3]),
        first_time=_float(cells[4]),
        last_time=_float(cells[5]),
        encapsulation=cells[1].strip() or None,
    )


def _add_summary(stats: CaptureStats, summary: _FileSummary) -> None:
    if summary.packets is not None:
        stats.packets += summary.packets
        if summary.encapsulation is not None:
            stats.linktypes[summary.encapsulation] = (
                stats.linktypes.get(summary.encapsulation, 0) + summary.packets)
    if summary.data_bytes is not None:
        stats.bytes += summary.data_bytes
    if summary.first_time is not None and (stats.first_time is None
                                           or summary.first_time < stats.first_time):
        stats.first_time = summary.first_time
    if summary.last_time is not None and (stats.last_time is None
                                          or summary.last_time > stats.last_time):
        stats.last_time = summary.last_time


def _read_one(command: list[str], path: str, *, options: CaptureOptions, topts: TsharkOptions,
              notes: NoteSink, stats: CaptureStats,
              tls_keylog: str | None) -> Iterator[CapturedMessage]:
    """Run tshark on one file and turn its JSON, packet by packet, into CapturedMessages."""
    # stderr goes to a temporary file, not a pipe, so a chatty tshark can never block on it.
    with tempfile.TemporaryFile() as stderr_file:
        try:
            proc = subprocess.Popen(
                [*command, "-r", path], stdout=subprocess.PIPE, stderr=stderr_file,
                stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
            )
        except OSError as exc:
            raise CaptureError(f"cannot run tshark: {exc.strerror}") from exc
        hellos: dict[frozenset[Endpoint], int] = {}  # TLS connection → its ClientHello frame
        decrypted: set[frozenset[Endpoint]] = set()
        last_frame = 0
        try:
            assert proc.stdout is not None
            for chunk in packet_json_chunks(proc.stdout, topts.max_packet_json):
                if isinstance(chunk, int):
                    notes.add(Note(
                        kind="tshark-packet-too-large",
                        detail=(f"{path}: tshark's description of the packet after frame "
                                f"{last_frame} exceeds {topts.max_packet_json} characters "
                                f"({chunk}+); skipped"),
                        level=NoteLevel.WARNING, frames=(last_frame + 1,) if last_frame else (),
                        file=path))
                    continue
                packet = parse_packet(chunk, path, options, topts, notes)
                if packet is None:
                    continue
                last_frame = packet.frame
                if packet.tls_client_hello is not None:
                    hellos.setdefault(frozenset(packet.tls_client_hello), packet.frame)
                for message in packet.messages:
                    if packet.over_tls:
                        decrypted.add(frozenset((message.src, message.dst)))
                    stats.sip_messages += 1
                    yield message
        finally:
            if proc.poll() is None:
                proc.kill()  # the consumer stopped early: do not leave tshark running
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        stderr_file.seek(0)
        stderr = stderr_file.read(topts.max_stderr).decode("utf-8", "replace")
    stats.tls_flows += len(hellos)
    _note_unread_tls(hellos, decrypted, path, tls_keylog, notes)
    if proc.returncode not in (0, None):
        reason = _reason_about(path, _one_line_reason(stderr, "tshark"))
        if "cut short in the middle of a packet" in reason:
            notes.add(truncated_note(path, last_frame, reason), once=f"truncated {path}")
        elif proc.returncode < 0:
            raise CaptureError(f"{path}: tshark was stopped by signal {-proc.returncode}")
        else:
            raise CaptureError(f"{path}: {reason}")


def _note_unread_tls(hellos: dict[frozenset[Endpoint], int], decrypted: set[frozenset[Endpoint]],
                     path: str, tls_keylog: str | None, notes: NoteSink) -> None:
    """One ``tls-flow`` note per TLS connection that yielded no SIP (RFC 3261 §26.2)."""
    for ends, frame in sorted(hellos.items(), key=lambda item: item[1]):
        if ends in decrypted:
            continue
        names = sorted(str(end) for end in ends)
        pair = " ⇄ ".join(names) if len(names) == 2 else f"{names[0]} ⇄ itself"
        if tls_keylog is None:
            why = ("SIP over TLS cannot be read without the session keys; pass a TLS key log "
                   "file (SSLKEYLOGFILE) with --tls-keylog")
        else:
            why = (f"no SIP was decrypted: {tls_keylog} holds no keys for this session, or it "
                   "carries something else (a SIP port other than 5061 needs "
                   "--decode-as tls.port==PORT,sip)")
        notes.add(Note(kind="tls-flow", detail=f"TCP {pair} carries TLS: {why}",
                       level=NoteLevel.INFO, frames=(frame,), file=path),
                  once=f"tshark-tls {path} {pair}")


def _reason_about(path: str, reason: str) -> str:
    """tshark says 'The file "PATH" isn't ...': we already lead with the path, so drop it."""
    for quoted in (f'The file "{path}" ', f"The file '{path}' "):
        if reason.startswith(quoted):
            reason = reason[len(quoted):]
    return reason.rstrip(".")


def packet_json_chunks(lines: Iterable[str], limit: int) -> Iterator[str | int]:
    """Split tshark's pretty-printed JSON array into one text per packet object.

    Yields the packet's JSON text, or, for a packet longer than ``limit`` characters, its size
    so far (an int) after skipping to its end, so one pathological packet cannot exhaust memory.
    """
    parts: list[str] = []
    size = 0
    inside = False
    oversized = False
    for line in lines:
        if not inside:
            if line.rstrip("\r\n") == "  {":
                inside, parts, size, oversized = True, [line], len(line), False
            continue
        stripped = line.rstrip("\r\n")
        if stripped in ("  }", "  },"):
            inside = False
            if oversized:
                yield size
            else:
                parts.append("  }")
                yield "".join(parts)
            parts = []
            continue
        size += len(line)
        if oversized:
            continue
        if size > limit:
            oversized = True
            parts = []
            continue
        parts.append(line)
    if inside and not oversized and parts:
        return  # tshark died mid-packet: the exit status tells the story


# --- one packet -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedPacket:
    """The SIP messages of one tshark packet, and the TLS flow it opens if it is a ClientHello."""

    frame: int
    messages: tuple[CapturedMessage, ...]
    tls_client_hello: tuple[Endpoint, Endpoint] | None = None
    over_tls: bool = False  # the messages were decrypted from TLS (SIP or secure WebSocket)


def parse_packet(text: str, path: str, options: CaptureOptions, topts: TsharkOptions,
                 notes: NoteSink) -> ParsedPacket | None:
    """One packet object of ``tshark -T json -x --no-duplicate-keys`` → its SIP messages."""
    try:
        document = json.loads(text)
    except ValueError:
        notes.add(Note(kind="tshark-output-malformed",
                       detail=f"{path}: tshark printed a packet that is not valid JSON; skipped",
                       file=path), once=f"tshark-json {path}")
        return None
    source = _dict(_dict(document).get("_source"))
    layers = _dict(source.get("layers"))
    frame_layer = _dict(_last(layers.get("frame")))
    frame = _int(frame_layer.get("frame.number"))
    if frame is None:
        return None
    time = _float(frame_layer.get("frame.time_epoch")) or 0.0
    protocols = str(frame_layer.get("frame.protocols", "")).split(":")
    carrier = protocols[: protocols.index("sip")] if "sip" in protocols else protocols
    src, dst, transport, ip_fragments_frames, udp_length = _addressing(layers, carrier)
    raws = _sip_raw_entries(layers.get("sip_raw"))
    if not raws:
        if any(name in carrier for name in _ENCRYPTED_LAYERS):
            return ParsedPacket(frame, (), (src, dst))
        return ParsedPacket(frame, ())
    flags: set[str] = set()
    cap_len = _int(frame_layer.get("frame.cap_len"))
    frame_len = _int(frame_layer.get("frame.len"))
    if cap_len is not None and frame_len is not None and cap_len < frame_len:
        flags.add(FLAG_TRUNCATED)
    over_tls = any(name in carrier for name in _ENCRYPTED_LAYERS)
    if "websocket" in carrier:
        flags.add(FLAG_WEBSOCKET)
        transport = Transport.WS  # RFC 7118; secure WebSocket is also WS (the enum has no WSS)
    elif over_tls:
        transport = Transport.TLS
    if ip_fragments_frames:
        flags.add(FLAG_IP_REASSEMBLED)
    tcp_segments = _frame_numbers(_find_key(layers.get("tcp.segments"), "tcp.segment"))
    if len(raws) > topts.max_sip_per_frame:
        notes.add(Note(kind="tshark-too-many-messages",
                       detail=(f"{path}: frame {frame} holds {len(raws)} SIP messages; only the "
                               f"first {topts.max_sip_per_frame} are analysed"),
                       frames=(frame,), file=path))
        raws = raws[: topts.max_sip_per_frame]
    messages: list[CapturedMessage] = []
    for index, data in enumerate(raws):
        message_flags = set(flags)
        frames = {frame, *ip_fragments_frames}
        # A frame that completes a reassembled TCP PDU starts with it: only the first SIP
        # message of the frame can span earlier segments.
        if index == 0 and len(tcp_segments) > 1:
            frames.update(tcp_segments)
            message_flags.add(FLAG_TCP_REASSEMBLED)
        wire_size = len(data)
        if transport is Transport.UDP and len(raws) == 1 and udp_length is not None \
                and udp_length >= 8:
            wire_size = udp_length - 8  # RFC 768: the length field counts the 8-byte header
        if len(data) > options.max_message_size:
            notes.add(Note(kind="sip-too-large",
                           detail=(f"{path}: frame {frame}: a {len(data)}-byte SIP message was "
                                   f"cut to max_message_size={options.max_message_size}"),
                           frames=(frame,), file=path))
            data = data[: options.max_message_size]
        messages.append(CapturedMessage(
            data=data, file=path, frame=frame, frames=tuple(sorted(frames)), time=time,
            src=src, dst=dst, transport=transport, wire_size=wire_size,
            ip_fragments=len(ip_fragments_frames), flags=frozenset(message_flags)))
    return ParsedPacket(frame, tuple(messages), over_tls=over_tls)


def _addressing(layers: dict[str, object], carrier: list[str]
                ) -> tuple[Endpoint, Endpoint, Transport, tuple[int, ...], int | None]:
    """Endpoints of the innermost IP header and transport before SIP (tunnels: the inner one)."""
    ip_name = next((name for name in reversed(carrier) if name in _IP_LAYERS), None)
    transport_name = next((name for name in reversed(carrier) if name in _TRANSPORT_LAYERS),
                          None)
    src_ip = dst_ip = ""
    fragments: tuple[int, ...] = ()
    if ip_name is not None:
        ip_layer = _dict(_last(layers.get(ip_name)))
        src_ip = _ip_text(ip_layer.get(f"{ip_name}.src"))
        dst_ip = _ip_text(ip_layer.get(f"{ip_name}.dst"))
        found = _frame_numbers(_find_key(ip_layer, f"{ip_name}.fragment"))
        if len(found) > 1:
            fragments = found
    sport = dport = 0
    udp_length: int | None = None
    transport = Transport.UDP
    if transport_name is not None:
        transport = _TRANSPORT_LAYERS[transport_name]
        layer = _dict(_last(layers.get(transport_name)))
        sport = _int(layer.get(f"{transport_name}.srcport")) or 0
        dport = _int(layer.get(f"{transport_name}.dstport")) or 0
        if transport_name == "udp":
            udp_length = _int(layer.get("udp.length"))
    return Endpoint(src_ip, sport), Endpoint(dst_ip, dport), transport, fragments, udp_length


def _sip_raw_entries(value: object) -> list[bytes]:
    """``sip_raw`` is ``[hex, offset, length, bitmask, type]``, or a list of those (several)."""
    if not isinstance(value, list) or not value:
        return []
    entries = [value] if isinstance(value[0], str) else value
    out: list[bytes] = []
    for entry in entries:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            try:
                out.append(bytes.fromhex(entry[0]))
            except ValueError:
                continue
    return out


# --- JSON helpers: tshark's JSON is untyped; narrow it here, once ------------------------------


def _dict(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return {}


def _last(value: object) -> object:
    """A duplicated layer (tunnels, several TLS records) is a list: the last is the innermost."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _find_key(value: object, key: str, depth: int = 0) -> object:
    if depth > _MAX_JSON_DEPTH:
        return None
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = _find_key(item, key, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_key(item, key, depth + 1)
            if found is not None:
                return found
    return None


def _frame_numbers(value: object) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    numbers = {number for number in (_int(item) for item in items) if number is not None}
    return tuple(sorted(numbers))


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _float(value: object) -> float | None:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _ip_text(value: object) -> str:
    text = str(_last(value) or "")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


__all__ = [
    "TSHARK_MISSING",
    "ParsedPacket",
    "TsharkOptions",
    "packet_json_chunks",
    "parse_packet",
    "read_messages_tshark",
    "tshark_available",
]

