# sipauth-analyzer — every task a developer or CI needs. Works on a fresh Debian with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench fuzz samples clean tshark tcpdump

# setup.py builds the optional C helpers (capture/_droprun.c, sip/_headers.c and _digest.c,
# report/_jsontext.c) in place.
$(STAMP): pyproject.toml setup.py sipauth_analyzer/capture/_droprun.c sipauth_analyzer/sip/_headers.c \
		sipauth_analyzer/sip/_digest.c sipauth_analyzer/report/_jsontext.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# tshark is the reference for what a capture contains; the parity tests need it.
tshark:
	@command -v tshark >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | $$SUDO debconf-set-selections && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tshark; }

# The bench compares with a port-filtered tcpdump piped into tshark (what people do by hand).
tcpdump:
	@command -v tcpdump >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tcpdump; }

demo: $(STAMP)
	@# Each sample is its own scenario on loopback: analyse them one by one, not as one timeline.
	$(BIN)/sipauth analyze --per-file sample_pcaps/ || test $$? -eq 1

lint: $(STAMP)
	$(BIN)/ruff check sipauth_analyzer tests scripts bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) tshark
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP) tshark tcpdump
	$(BIN)/python -m bench.run --big --exhaustion

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.campaign

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/out build
	rm -f sipauth_analyzer/capture/_droprun.*.so sipauth_analyzer/sip/_headers.*.so \
		sipauth_analyzer/sip/_digest.*.so sipauth_analyzer/report/_jsontext.*.so
