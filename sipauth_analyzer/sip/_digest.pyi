# The digest parser's plain fast path in C (sip/_digest.c); digest.python_plain_fields is the
# same path in Python, with the signature both share.
from sipauth_analyzer.sip.digest import PlainFields

plain_fields: PlainFields
