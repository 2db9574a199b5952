"""Robustness tests: hostile captures, mutation fuzzing, resource exhaustion, input safety."""
