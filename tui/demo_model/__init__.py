"""The project's own small demo model, built locally so the app runs with no model hub."""

from tui.demo_model.build import DEMO_VERSION, demo_model_path, ensure_demo_model

__all__ = ["DEMO_VERSION", "demo_model_path", "ensure_demo_model"]
