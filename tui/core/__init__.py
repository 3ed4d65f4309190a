"""The domain core: what a pane holds, in plain objects the widgets only show.

A conversation is a tree of messages (tui/core/conversation.py); a `Run` turns a backend's deltas
into an assistant message with its tokens and figures (tui/core/run.py); a `PaneState` is a pane's
conversation, draft, settings and target (tui/core/pane_state.py); records for files are made
from these objects in tui/core/records.py. Nothing here imports Textual or vLLM
(tests/test_architecture.py checks it, imports included), so the workbench, `--headless` and
`--batch` share it.
"""
