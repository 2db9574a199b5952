"""The one optional C extension (capture/_droprun.c); everything else is in pyproject.toml.

``optional=True``: without a C compiler or Python headers the install still succeeds and the
reader runs its pure-Python loop, which gives the same results (tests/capture/test_droprun.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sipauth_analyzer.capture._droprun",
            ["sipauth_analyzer/capture/_droprun.c"],
            optional=True,
        )
    ]
)
