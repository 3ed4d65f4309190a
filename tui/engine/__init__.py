"""The engine layer: the backend protocol the UI talks to, and its implementations.

Nothing in this package imports Textual; only `vllm_backend` imports vLLM.
"""
