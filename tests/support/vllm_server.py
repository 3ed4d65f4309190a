"""A real `vllm serve` (the installed vLLM's OpenAI server) on loopback, serving the demo model and
LoRA adapters (the demo adapter unless told), in its own process group so that stopping it stops its
engine too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tui.demo_model import DEMO_ADAPTER_NAME, demo_adapter_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lora_flags(adapters: dict[str, Path]) -> list[str]:
    """Each adapter a model of its own; a slot more than adapters, the last kept empty (see
    tui/engine/lora.py); none: no LoRA at all."""
    if not adapters:
        return []
    return ["--enable-lora", "--max-lora-rank", "8", "--max-loras", str(len(adapters) + 1),
            "--lora-modules", *(f"{name}={path}" for name, path in adapters.items())]


class Server:
    def __init__(self, model, log_path: Path, adapters: dict[str, Path] | None = None,
                 extra_args: list[str] | None = None) -> None:
        """`adapters` by name (the demo adapter by default; {}: none); `extra_args`: more of vLLM's
        server flags (a reasoning parser, a logprobs mode)."""
        adapters = {DEMO_ADAPTER_NAME: demo_adapter_path()} if adapters is None else adapters
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1"}
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048", "--host", "127.0.0.1",
             "--port", str(self.port), "--enable-log-requests", *lora_flags(adapters), *(extra_args or [])],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            process_group=0)  # (not start_new_session: a session leader did not notice disconnects)

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"vllm serve not ready after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever it left (EngineCore, Worker)
        except ProcessLookupError:
            pass
        self._log.close()
