"""Reliability tests: Findig under hostile input."""
