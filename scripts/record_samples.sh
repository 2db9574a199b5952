#!/usr/bin/env bash
# Record the SIP digest-authentication sample captures in sample_pcaps/ from
# real software (kamailio, SIPp, sipsak, sipvicious) talking over loopback.
#
# Everything runs inside a throw-away network namespace that has ONLY a
# loopback interface, so no packet can leave the machine; every process is
# started in the background, remembered by PID and stopped by PID; every wait
# is bounded.  Needs root (ip netns).  See docs/recording.md.
#
# Usage: sudo scripts/record_samples.sh [SCENARIO...]   (default: all)
#        scripts/record_samples.sh --list
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CFG_DIR="$REPO/scripts/recording"
OUT_DIR="${SIPAUTH_SAMPLES_OUT:-$REPO/sample_pcaps}"
NS="sipauth-rec-$$"
WORK="$(mktemp -d /tmp/sipauth-rec.XXXXXX)"   # kamailio logs, temp pcaps
KAM_CFG="$CFG_DIR/kamailio.cfg"
# Capture everything IP on lo, and make sure non-first IPv4 fragments (which
# carry no UDP header) are kept too.
CAPTURE_FILTER='udp or tcp or (ip[6:2] & 0x1fff != 0) or ip6'
CLIENT_TIMEOUT=45      # seconds any single client run may take
STOP_TIMEOUT=5         # seconds to wait for a process after SIGTERM/SIGINT

ALL_SCENARIOS=(
	register-success register-success-sipsak invite-407-success
	register-wrong-password register-wrong-password-rechallenge register-wrong-password-repeated
	fragmented-invite fragmented-invite-ghost stale-nonce
	register-407 register-407-sipsak brute-force-svcrack brute-force-svcrack-noqop
	enumerate-svwar
	sha256-to-md5-client sha256-sipsak
	trailing-space-password wrong-username register-success-qop
	register-success-tcp register-success-ipv6
)

PIDS=()   # every background process we started, stopped by PID in cleanup

log() { printf '[record] %s\n' "$*" >&2; }

# Foreground helper only: a function started with & runs in a subshell whose
# PID is not the program's, so background programs use `ip netns exec` directly
# (it execs, so $! is the program itself).
in_ns() { ip netns exec "$NS" "$@"; }

# reap_namespace: stop whatever still runs inside our namespace (we created
# it, so every process in it is ours), by PID, before deleting it.
reap_namespace() {
	local pid
	ip netns list 2>/dev/null | grep -qw "$NS" || return 0
	for pid in $(ip netns pids "$NS" 2>/dev/null); do
		log "leftover pid $pid in $NS: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80)"
		stop_pid "$pid" TERM
	done
	ip netns del "$NS" 2>/dev/null || true
}

# stop_pid PID SIGNAL: signal, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
	local pid="$1" sig="${2:-TERM}" i
	kill -0 "$pid" 2>/dev/null || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid ignored SIG$sig, killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do stop_pid "$pid" TERM; done
	PIDS=()
	reap_namespace
	log "logs kept in $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
	local pid="$1" p keep=()
	for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

new_namespace() {
	reap_namespace
	ip netns add "$NS"
	in_ns ip link set lo up
	# Loopback's MTU is 65536; a real Ethernet MTU makes the kernel fragment
	# UDP datagrams over 1500 bytes (RFC 3261 §18.1.1 is about exactly that).
	in_ns ip link set lo mtu 1500
}

# wait_for_port PROTO PORT: bounded wait until something listens there.
wait_for_port() {
	local proto="$1" port="$2" i
	for ((i = 0; i < 50; i++)); do
		if in_ns ss -Hln"${proto:0:1}" "sport = :$port" | grep -q .; then return 0; fi
		sleep 0.1
	done
	log "nothing listening on $proto/$port after 5 s"
	return 1
}

KAM_PID=""
# start_kamailio NAME [DEFINE...]: run kamailio in the foreground of a
# background job (-DD: no daemon, so $! is the main process) with defines.
start_kamailio() {
	local name="$1" defs=() d
	shift
	for d in "$@"; do defs+=(-A "$d"); done
	ip netns exec "$NS" kamailio -f "$KAM_CFG" -DD -E -m 32 -M 4 -Y "$WORK" -w "$WORK" "${defs[@]}" \
		>"$WORK/$name.kamailio.log" 2>&1 &
	KAM_PID=$!
	PIDS+=("$KAM_PID")
	wait_for_port udp 5060
}

stop_kamailio() {
	stop_pid "$KAM_PID" TERM
	forget_pid "$KAM_PID"
	KAM_PID=""
}

CAP_PID=""
CAP_FILE=""
start_capture() {
	local name="$1" i
	CAP_FILE="$WORK/$name.pcap"
	# --immediate-mode: without it packets still in the kernel ring when we
	# stop tcpdump are lost.  -Z root: write into $WORK without dropping privs.
	ip netns exec "$NS" tcpdump --immediate-mode -U -Z root -i lo -s 0 -w "$CAP_FILE" "$CAPTURE_FILTER" \
		>"$WORK/$name.tcpdump.log" 2>&1 &
	CAP_PID=$!
	PIDS+=("$CAP_PID")
	for ((i = 0; i < 50; i++)); do
		grep -q 'listening on' "$WORK/$name.tcpdump.log" 2>/dev/null && return 0
		sleep 0.1
	done
	log "tcpdump did not start"
	return 1
}

stop_capture() {
	local name="$1"
	sleep 0.5   # let the last replies / retransmissions land
	stop_pid "$CAP_PID" TERM
	forget_pid "$CAP_PID"
	CAP_PID=""
	cp "$CAP_FILE" "$OUT_DIR/$name.pcap"
	log "$name.pcap: $(tshark -r "$OUT_DIR/$name.pcap" 2>/dev/null | wc -l) frames, $(stat -c %s "$OUT_DIR/$name.pcap") bytes"
}

# run_client NAME CMD...: run a client in the namespace, bounded, output logged.
run_client() {
	local name="$1" rc=0
	shift
	timeout --kill-after=3 "$CLIENT_TIMEOUT" ip netns exec "$NS" "$@" \
		>>"$WORK/$name.client.log" 2>&1 || rc=$?
	log "$name: client '$1' exited $rc"
}

UAS_PID=""
start_uas() {
	local name="$1"
	ip netns exec "$NS" sipp -sf "$CFG_DIR/uas-answer.xml" -i 127.0.0.1 -p 5070 -nostdin -m 1 \
		>"$WORK/$name.uas.log" 2>&1 &
	UAS_PID=$!
	PIDS+=("$UAS_PID")
	wait_for_port udp 5070
}

stop_uas() {
	[[ -n "$UAS_PID" ]] || return 0
	stop_pid "$UAS_PID" TERM
	forget_pid "$UAS_PID"
	UAS_PID=""
}

# sipp_uac NAME SCENARIO_XML USER [extra sipp args...]: one call, then exit.
sipp_uac() {
	local name="$1" xml="$2" user="$3"
	shift 3
	run_client "$name" sipp 127.0.0.1:5060 -sf "$xml" -s "$user" -i 127.0.0.1 -p 5061 \
		-m 1 -l 1 -nostdin -timeout 20s -timeout_error -max_retrans 3 \
		-trace_err -error_file "$WORK/$name.sipp-errors.log" "$@"
}

# invite_xml EXTRA_SDP_LINES: the INVITE scenario with the marker replaced.
invite_xml() {
	local out="$WORK/invite-auth.$1.xml" extra="$2"
	awk -v extra="$extra" '$0 == "SDP_MARKER" { if (extra != "") print extra; next } { print }' \
		"$CFG_DIR/invite-auth.xml" >"$out"
	printf '%s\n' "$out"
}

# Scenario: NAME, kamailio defines, client(s).  Each records one capture.
record() {
	local name="$1"
	shift
	log "=== $name"
	new_namespace
	"$@"
	reap_namespace
}

# ---- the scenarios ---------------------------------------------------------

sc_register_success() {
	start_kamailio register-success
	start_capture register-success
	sipp_uac register-success "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-42
	stop_capture register-success
	stop_kamailio
}

sc_register_success_sipsak() {
	start_kamailio register-success-sipsak
	start_capture register-success-sipsak
	# -U -C: register the given contact only; -a: password; -vv: log replies.
	run_client register-success-sipsak sipsak -U -C sip:bob@127.0.0.1:5062 \
		-s sip:bob@127.0.0.1 -a builder-7 -l 5062 -i -vv
	stop_capture register-success-sipsak
	stop_kamailio
}

sc_invite_407_success() {
	local xml
	xml="$(invite_xml small "")"
	start_kamailio invite-407-success
	start_uas invite-407-success
	start_capture invite-407-success
	sipp_uac invite-407-success "$xml" service -au alice -ap wonderland-42
	stop_capture invite-407-success
	stop_uas
	stop_kamailio
}

sc_register_wrong_password() {
	start_kamailio register-wrong-password
	start_capture register-wrong-password
	sipp_uac register-wrong-password "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-24
	stop_capture register-wrong-password
	stop_kamailio
}

sc_register_wrong_password_rechallenge() {
	start_kamailio register-wrong-password-rechallenge RECHALLENGE_ON_FAIL ONE_TIME_NONCE
	start_capture register-wrong-password-rechallenge
	sipp_uac register-wrong-password-rechallenge "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-24
	stop_capture register-wrong-password-rechallenge
	stop_kamailio
}

# A phone with the wrong password keeps trying: three registrations one second apart (each its
# own Call-ID and From tag), each refused.
sc_register_wrong_password_repeated() {
	start_kamailio register-wrong-password-repeated
	start_capture register-wrong-password-repeated
	sipp_uac register-wrong-password-repeated "$CFG_DIR/register-auth.xml" alice \
		-au alice -ap wonderland-24 -m 3 -r 1
	stop_capture register-wrong-password-repeated
	stop_kamailio
}

# ~25 SDP lines (video, ICE candidates, SRTP keys: what a softphone offers)
# push the authenticated INVITE (but not the first one) past 1500 bytes
# of IP packet, so only the retry is IP-fragmented.
large_sdp() {
	local i
	printf 'a=ice-ufrag:8hhY\na=ice-pwd:asd88fgpdd777uzjYhagZg\n'
	for ((i = 1; i <= 6; i++)); do
		printf 'a=candidate:%d 1 UDP %d 127.0.0.1 %d typ host\n' "$i" $((2130706431 - i)) $((6000 + 2 * i))
	done
	printf 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\n'
	printf 'm=video 6010 RTP/AVP 96 97 98\n'
	printf 'a=rtpmap:96 H264/90000\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\n'
	printf 'a=rtpmap:97 VP8/90000\na=rtpmap:98 H264/90000\na=fmtp:98 profile-level-id=42e01f;packetization-mode=0\n'
	printf 'a=rtcp-fb:* nack\na=rtcp-fb:* nack pli\na=rtcp-fb:* ccm fir\na=sendrecv\n'
}

sc_fragmented_invite() {
	local xml
	xml="$(invite_xml large "$(large_sdp)")"
	start_kamailio fragmented-invite
	start_uas fragmented-invite
	start_capture fragmented-invite
	sipp_uac fragmented-invite "$xml" service -au alice -ap wonderland-42
	stop_capture fragmented-invite
	stop_uas
	stop_kamailio
}

# Same call, but the receiving kernel may not reassemble fragments: with
# ipfrag_high_thresh = 0 (per network namespace) every fragment is discarded
# at reassembly, after tcpdump has seen it.  That is what a firewall dropping
# non-first fragments does in the field: the unfragmented INVITE is
# challenged, the authenticated (now > 1500 bytes) retry is never answered:
# the "ghost call".
sc_fragmented_invite_ghost() {
	local xml
	xml="$(invite_xml large "$(large_sdp)")"
	in_ns sysctl -q -w net.ipv4.ipfrag_low_thresh=0
	in_ns sysctl -q -w net.ipv4.ipfrag_high_thresh=0
	start_kamailio fragmented-invite-ghost
	start_uas fragmented-invite-ghost
	start_capture fragmented-invite-ghost
	# A full RFC 3261 Timer B (64*T1 = 32 s: 6 retransmissions), and no BYE
	# from SIPp when it gives up (the call never existed).
	sipp_uac fragmented-invite-ghost "$xml" service -au alice -ap wonderland-42 \
		-max_retrans 6 -timeout 40s -default_behaviors all,-bye
	stop_capture fragmented-invite-ghost
	stop_uas
	stop_kamailio
}

sc_stale_nonce() {
	start_kamailio stale-nonce NONCE_EXPIRE=3
	start_capture stale-nonce
	sipp_uac stale-nonce "$CFG_DIR/register-stale.xml" alice -au alice -ap wonderland-42
	stop_capture stale-nonce
	stop_kamailio
}

sc_register_407() {
	start_kamailio register-407 REGISTER_407
	start_capture register-407
	sipp_uac register-407 "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-42
	stop_capture register-407
	stop_kamailio
}

sc_register_407_sipsak() {
	start_kamailio register-407-sipsak REGISTER_407
	start_capture register-407-sipsak
	run_client register-407-sipsak sipsak -U -C sip:bob@127.0.0.1:5062 \
		-s sip:bob@127.0.0.1 -a builder-7 -l 5062 -i -vv
	stop_capture register-407-sipsak
	stop_kamailio
}

WORDLIST=(123456 password 1001 12345678 qwerty 1234 111111 letmein secret
	admin 1q2w3e voip sip 0000 changeme welcome passw0rd 2024 abc123 letmein2024)

# svcrack_run NAME: one svcrack dictionary attack on extension 1001.
svcrack_run() {
	local name="$1"
	printf '%s\n' "${WORDLIST[@]}" >"$WORK/wordlist.txt"
	# The right password for 1001 is the last word; -t 0.05 paces the guesses.
	run_client "$name" svcrack -u 1001 -d "$WORK/wordlist.txt" -P 5065 \
		-b 127.0.0.1 -x 127.0.0.1 -t 0.05 --maximumtime=5 udp://127.0.0.1:5060
}

# The registrar offers qop=auth: svcrack answers correctly, wrong guesses get
# 403 and the last guess 200.
sc_brute_force_svcrack() {
	start_kamailio brute-force-svcrack WITH_QOP
	start_capture brute-force-svcrack
	svcrack_run brute-force-svcrack
	stop_capture brute-force-svcrack
	stop_kamailio
}

# The registrar offers no qop: sipvicious 0.3.3 still writes qop=auth, but
# without cnonce/nc (RFC 2617 §3.2.2 makes them mandatory with qop), so
# every attempt is malformed and kamailio re-challenges each time.
sc_brute_force_svcrack_noqop() {
	start_kamailio brute-force-svcrack-noqop
	start_capture brute-force-svcrack-noqop
	svcrack_run brute-force-svcrack-noqop
	stop_capture brute-force-svcrack-noqop
	stop_kamailio
}

sc_enumerate_svwar() {
	start_kamailio enumerate-svwar
	start_capture enumerate-svwar
	run_client enumerate-svwar svwar -e 1000-1003 -P 5066 -b 127.0.0.1 -x 127.0.0.1 \
		-t 0.05 --maximumtime=5 udp://127.0.0.1:5060
	printf 'alice\nbob\ncarol\n' >"$WORK/names.txt"
	run_client enumerate-svwar svwar -d "$WORK/names.txt" -P 5066 -b 127.0.0.1 -x 127.0.0.1 \
		-t 0.05 --maximumtime=5 udp://127.0.0.1:5060
	stop_capture enumerate-svwar
	stop_kamailio
}

sc_sha256_to_md5_client() {
	start_kamailio sha256-to-md5-client WITH_SHA256
	start_capture sha256-to-md5-client
	sipp_uac sha256-to-md5-client "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-42
	stop_capture sha256-to-md5-client
	stop_kamailio
}

sc_sha256_sipsak() {
	start_kamailio sha256-sipsak WITH_SHA256
	start_capture sha256-sipsak
	run_client sha256-sipsak sipsak -U -C sip:bob@127.0.0.1:5062 \
		-s sip:bob@127.0.0.1 -a builder-7 -l 5062 -i -vv
	stop_capture sha256-sipsak
	stop_kamailio
}

sc_trailing_space_password() {
	start_kamailio trailing-space-password
	start_capture trailing-space-password
	sipp_uac trailing-space-password "$CFG_DIR/register-auth.xml" alice -au alice -ap 'wonderland-42 '
	stop_capture trailing-space-password
	stop_kamailio
}

sc_wrong_username() {
	start_kamailio wrong-username
	start_capture wrong-username
	sipp_uac wrong-username "$CFG_DIR/register-auth.xml" alice -au alcie -ap wonderland-42
	stop_capture wrong-username
	stop_kamailio
}

sc_register_success_qop() {
	start_kamailio register-success-qop WITH_QOP
	start_capture register-success-qop
	sipp_uac register-success-qop "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-42
	stop_capture register-success-qop
	stop_kamailio
}

sc_register_success_tcp() {
	start_kamailio register-success-tcp
	start_capture register-success-tcp
	sipp_uac register-success-tcp "$CFG_DIR/register-auth.xml" alice -au alice -ap wonderland-42 -t t1
	stop_capture register-success-tcp
	stop_kamailio
}

sc_register_success_ipv6() {
	start_kamailio register-success-ipv6
	start_capture register-success-ipv6
	run_client register-success-ipv6 sipp '[::1]:5060' -sf "$CFG_DIR/register-auth.xml" -s bob \
		-i ::1 -p 5061 -m 1 -l 1 -nostdin -timeout 20s -timeout_error -max_retrans 3 \
		-au bob -ap builder-7
	stop_capture register-success-ipv6
	stop_kamailio
}

# ---- main ------------------------------------------------------------------

main() {
	if [[ "${1:-}" == "--list" ]]; then
		printf '%s\n' "${ALL_SCENARIOS[@]}"
		return 0
	fi
	if [[ "$(id -u)" != 0 ]]; then
		log "needs root (ip netns); re-run with sudo"
		return 2
	fi
	local tool
	for tool in ip tcpdump tshark kamailio sipp sipsak svcrack svwar timeout ss sysctl; do
		command -v "$tool" >/dev/null || { log "missing tool: $tool"; return 2; }
	done
	mkdir -p "$OUT_DIR"
	local scenarios=("$@") sc
	[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL_SCENARIOS[@]}")
	for sc in "${scenarios[@]}"; do
		if ! declare -F "sc_${sc//-/_}" >/dev/null; then
			log "unknown scenario: $sc (try --list)"
			return 2
		fi
		record "$sc" "sc_${sc//-/_}"
	done
}

main "$@"
