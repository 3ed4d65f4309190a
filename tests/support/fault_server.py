"""The OpenAI-compatible server that misbehaves on request: bench/fault_server.py (the benchmark
quits the app from a remote on it too)."""

from bench.fault_server import *  # noqa: F401,F403
from bench.fault_server import ESCAPES, HUGE, MODEL, WORDS, FaultServer  # noqa: F401
from bench.fault_usage import CLOSING_USAGE, RUNNING_USAGE  # noqa: F401
from bench.fault_thinking import ANSWERS, THOUGHTS, answer, thought  # noqa: F401
