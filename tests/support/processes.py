"""The real `vllm-panes` in a pseudo-terminal or as a command: bench/processes.py (the benchmark
runs it the same way)."""

from bench.processes import (  # noqa: F401
    COMMAND,
    TERMINAL_GONE,
    PtyApp,
    run_cli,
    session_members,
    wait_session_gone,
)
