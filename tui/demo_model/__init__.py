"""The project's own small demo model (trained on the King James Version), so the app runs offline."""

from tui.demo_model.build import (
    DEMO_ADAPTER_NAME,
    THINK_ADAPTER_NAME,
    THINK_PARSER_FILE,
    THINK_PARSER_NAME,
    demo_adapter_path,
    demo_model_path,
    ensure_demo_model,
    think_adapter_path,
    think_parser_flags,
    training_report,
)

__all__ = ["DEMO_ADAPTER_NAME", "THINK_ADAPTER_NAME", "THINK_PARSER_FILE", "THINK_PARSER_NAME", "demo_adapter_path", "demo_model_path", "ensure_demo_model",
           "think_adapter_path", "think_parser_flags", "training_report"]
