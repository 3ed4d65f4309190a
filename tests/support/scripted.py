"""The scripted backend lives in the package (tui/engine/scripted.py: the benchmark uses it too)."""

from tui.engine.scripted import (  # noqa: F401
    SCRIPTED_PROBABILITIES,
    ScriptedBackend,
    ScriptedSource,
    echo_script,
    scripted_logprob,
    scripted_token_id,
)
