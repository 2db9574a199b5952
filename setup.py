"""The four optional C extensions; everything else is in pyproject.toml.

capture/_droprun.c skips runs of RTP records, sip/_headers.c is the parser's fast header pass,
sip/_digest.c the digest parser's plain fast path, report/_jsontext.c writes the JSON report's
attempt records.
``optional=True``: without a C compiler or Python headers the install still succeeds and the
Python code does all four, with the same results (tests/capture/test_droprun.py,
tests/sip/test_fast_headers.py, tests/sip/test_digest_fast_path.py,
tests/report/test_json_attempts.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sipauth_analyzer.capture._droprun",
            ["sipauth_analyzer/capture/_droprun.c"],
            optional=True,
        ),
        Extension(
            "sipauth_analyzer.sip._headers",
            ["sipauth_analyzer/sip/_headers.c"],
            optional=True,
        ),
        Extension(
            "sipauth_analyzer.sip._digest",
            ["sipauth_analyzer/sip/_digest.c"],
            optional=True,
        ),
        Extension(
            "sipauth_analyzer.report._jsontext",
            ["sipauth_analyzer/report/_jsontext.c"],
            optional=True,
        ),
    ]
)
