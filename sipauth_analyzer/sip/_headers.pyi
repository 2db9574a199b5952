# The SIP parser's fast header pass in C (sip/_headers.c); parser.python_fast_headers is the
# same pass in Python, with the signature both share.
from sipauth_analyzer.sip.parser import FastHeaders

fast_headers: FastHeaders
