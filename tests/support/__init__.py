"""Helpers the tests (and the benchmark) share: driving the app, processes, the terminal copy."""
