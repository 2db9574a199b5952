"""Tests of the SIP stage: parser, grammar helpers and digest authentication."""
