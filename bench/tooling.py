"""What the development tools of bench/ (census, phases) share: their command line."""

from __future__ import annotations

import argparse


def analysis_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser taking capture files (one timeline) and ``--jobs``, as sipauth analyze does."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("captures", nargs="+", help="capture files, read as one timeline")
    parser.add_argument("--jobs", type=int, default=0, help="as sipauth analyze --jobs (0: auto)")
    return parser
