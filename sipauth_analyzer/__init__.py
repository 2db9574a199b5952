"""sipauth-analyzer: explains why SIP digest authentication fails, from packet captures."""

__version__ = "0.1.0"
