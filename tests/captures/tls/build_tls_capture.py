"""Build ``sip_tls_register.pcap`` + ``sip_tls_register.keylog``: a real SIP-over-TLS REGISTER flow.

Run as root from the repository root::

    .venv/bin/python tests/captures/tls/build_tls_capture.py

What it does, all inside a throwaway network namespace that has only a loopback interface (so
nothing ever touches a real network):

1. makes a self-signed certificate with ``openssl req`` in a temporary directory;
2. ``ip netns add sipauth-tls-<pid>`` and brings ``lo`` up in it;
3. starts ``tcpdump -i lo`` in the namespace, then a tiny Python ``ssl`` SIP registrar on
   127.0.0.1:5061 (RFC 3261 §26.2: SIP over TLS, default port 5061) and a client that sends
   REGISTER → gets 401 with WWW-Authenticate → REGISTER with a real MD5 digest (qop=auth, RFC
   8760 / RFC 2617 §3.2.2) → 200 OK. The client writes the TLS secrets with
   ``SSLContext.keylog_filename`` (NSS key log format, what Wireshark's ``tls.keylog_file`` reads);
4. stops every process it started by PID, deletes the namespace, and copies the capture and the
   key log next to this script.

The keys are throwaway (generated per run, never reused), so committing the key log is harmless.
The output is not byte-for-byte reproducible (TLS randomness); tests assert on SIP content only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PCAP_NAME = "sip_tls_register.pcap"
KEYLOG_NAME = "sip_tls_register.keylog"
HOST = "127.0.0.1"
PORT = 5061
STEP_TIMEOUT = 10.0  # seconds any single step may take before the build gives up
MAX_READ = 1 << 16  # bytes a peer may send before we stop reading

REALM = "sip.example.com"
USER = "alice"
PASSWORD = "correct horse"
NONCE = "b7c9036dbf357f7683f054aea940e9703dc8f84c"
OPAQUE = "5ccc069c403ebaf9f0171e9517f40e41"
CALL_ID = "tls-register-1@127.0.0.1"
CLIENT_PORT = 50611


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest (RFC 2617) is MD5 by spec


def _read_message(conn: ssl.SSLSocket) -> bytes:
    """One SIP message framed by Content-Length (RFC 3261 §18.3: mandatory on stream transports)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > MAX_READ:
            raise RuntimeError(f"peer closed or sent too much before the header end: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            raise RuntimeError("peer closed inside the body")
        body += chunk
    return head + b"\r\n\r\n" + body


def _register(cseq: int, branch: str, authorization: str | None) -> bytes:
    lines = [
        f"REGISTER sip:{REALM} SIP/2.0",
        f"Via: SIP/2.0/TLS {HOST}:{CLIENT_PORT};branch={branch};rport",
        "Max-Forwards: 70",
        f'From: "Alice" <sips:{USER}@{REALM}>;tag=tls1928301774',
        f"To: <sips:{USER}@{REALM}>",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sips:{USER}@{HOST}:{CLIENT_PORT};transport=tls>",
        "Expires: 3600",
        "User-Agent: sipauth-tls-builder/1.0",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(request: bytes, status: str, extra: list[str]) -> bytes:
    keep = ("via:", "from:", "to:", "call-id:", "cseq:")
    lines = [f"SIP/2.0 {status}"]
    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        text = line.decode()
        if text.lower().startswith(keep):
            if text.lower().startswith("to:") and ";tag=" not in text:
                text += ";tag=as7a1b2c3d"
            lines.append(text)
    lines.extend(extra)
    lines.append("Server: sipauth-tls-registrar/1.0")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def serve(cert: str, key: str) -> None:
    """The registrar: one connection, challenge the first REGISTER, accept the second."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.create_server((HOST, PORT)) as listener:
        listener.settimeout(STEP_TIMEOUT)
        print("ready", flush=True)
        raw, _ = listener.accept()
        raw.settimeout(STEP_TIMEOUT)
        with context.wrap_socket(raw, server_side=True) as conn:
            first = _read_message(conn)
            challenge = (
                f'WWW-Authenticate: Digest realm="{REALM}", nonce="{NONCE}", '
                f'opaque="{OPAQUE}", algorithm=MD5, qop="auth"'
            )
            conn.sendall(_response(first, "401 Unauthorized", [challenge]))
            second = _read_message(conn)
            ok = b"Authorization: Digest" in second
            contact = f"Contact: <sips:{USER}@{HOST}:{CLIENT_PORT};transport=tls>;expires=3600"
            conn.sendall(_response(second, "200 OK" if ok else "403 Forbidden", [contact]))
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.unwrap()


def client(keylog: str) -> None:
    """The UA: REGISTER, answer the 401 with a real digest, read the 200."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed throwaway certificate
    context.keylog_filename = keylog
    raw = socket.create_connection((HOST, PORT), timeout=STEP_TIMEOUT,
                                   source_address=(HOST, CLIENT_PORT))
    with context.wrap_socket(raw, server_hostname=REALM) as conn:
        conn.sendall(_register(1, "z9hG4bKtls0001", None))
        _read_message(conn)
        uri = f"sip:{REALM}"
        nc, cnonce = "00000001", "0a4f113b"
        ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"REGISTER:{uri}")
        response = _md5(f"{ha1}:{NONCE}:{nc}:{cnonce}:auth:{ha2}")
        authorization = (
            f'Digest username="{USER}", realm="{REALM}", nonce="{NONCE}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, cnonce="{cnonce}", opaque="{OPAQUE}", '
            f"qop=auth, nc={nc}"
        )
        conn.sendall(_register(2, "z9hG4bKtls0002", authorization))
        _read_message(conn)
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.unwrap()


def _wait_for_line(proc: subprocess.Popen[str], stream_name: str, needle: str) -> None:
    stream = proc.stdout if stream_name == "stdout" else proc.stderr
    assert stream is not None
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        line = stream.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"{proc.args!r} never printed {needle!r}")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STEP_TIMEOUT)


def build(out_dir: Path) -> None:
    namespace = f"sipauth-tls-{os.getpid()}"
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="sipauth-tls-") as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        pcap, keylog = os.path.join(tmp, PCAP_NAME), os.path.join(tmp, KEYLOG_NAME)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", f"/CN={REALM}", "-days", "1", "-keyout", key, "-out", cert],
            check=True, capture_output=True, timeout=STEP_TIMEOUT,
        )
        subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=STEP_TIMEOUT)
        started: list[subprocess.Popen[str]] = []
        try:
            in_ns = ["ip", "netns", "exec", namespace]
            subprocess.run([*in_ns, "ip", "link", "set", "lo", "up"], check=True,
                           timeout=STEP_TIMEOUT)
            dump = subprocess.Popen(
                # --immediate-mode: hand each packet over at once, so stopping loses nothing;
                # -Z root: keep writing into our root-owned temporary directory.
                [*in_ns, "tcpdump", "-i", "lo", "-U", "--immediate-mode", "-Z", "root",
                 "-s", "0", "-w", pcap, f"tcp port {PORT}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            started.append(dump)
            _wait_for_line(dump, "stderr", "listening on")
            server = subprocess.Popen(
                [*in_ns, sys.executable, script, "--serve", cert, key],
                stdout=subprocess.PIPE, text=True,
            )
            started.append(server)
            _wait_for_line(server, "stdout", "ready")
            subprocess.run([*in_ns, sys.executable, script, "--client", keylog], check=True,
                           timeout=STEP_TIMEOUT * 3)
            server.wait(timeout=STEP_TIMEOUT)
            if server.returncode != 0:
                raise RuntimeError(f"registrar exited with {server.returncode}")
            time.sleep(1.0)  # let tcpdump drain the kernel buffer before it is stopped
            _stop(dump, signal.SIGINT)
            assert dump.stderr is not None
            summary = dump.stderr.read()
            if summary.startswith("0 packets") or "\n0 packets captured" in summary:
                raise RuntimeError(f"tcpdump captured nothing: {summary!r}")
        finally:
            for proc in reversed(started):
                _stop(proc)
            subprocess.run(["ip", "netns", "del", namespace], check=False, timeout=STEP_TIMEOUT)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pcap, out_dir / PCAP_NAME)
        shutil.copyfile(keylog, out_dir / KEYLOG_NAME)
    print(f"wrote {out_dir / PCAP_NAME} and {out_dir / KEYLOG_NAME}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, metavar=("CERT", "KEY"), help=argparse.SUPPRESS)
    parser.add_argument("--client", metavar="KEYLOG", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE),
                        help="output directory (default: beside this script)")
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
    elif args.client:
        client(args.client)
    else:
        build(Path(args.out))


if __name__ == "__main__":
    main()
