"""vllm-panes: a terminal workbench that streams vLLM answers side by side."""

__version__ = "0.1.0"
