"""The store: one SQLite database in the data directory that holds the workbench's session and the
history of every run.

`db.py` opens it (our file recognised by its application id, a corrupt or foreign file moved aside),
`codec.py` packs an answer's tokens into arrays, `session_sync.py` finds on the event loop what
changed in the panes since the last save and rebuilds them at start, `writer.py` is the one thread
that writes, `history.py` records, searches, exports and trims the runs, and `store.py` puts them
together for the app, `--headless`, `--batch` and `vllm-panes history` (`command.py`).

Nothing here imports Textual or vLLM (tests/test_architecture.py checks it): the history command
prints runs without loading either.
"""
