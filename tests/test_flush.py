"""tui/flush.py: which panes a flush draws, and which it asks to jump early."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from tui import flush


class View:
    def __init__(self) -> None:
        self.jumped_early = 0

    def jump_early(self) -> None:
        self.jumped_early += 1


class FakePane:
    """What the flusher reads of a pane: a view, whether it runs, and what its flush did."""

    def __init__(self, number: int, jumps: bool = False) -> None:
        self.number = number
        self.output = View()
        self.is_attached = self.drawable = self.running = True
        self.pending = False
        self.jumped = False
        self._jumps = jumps
        self.flushed = 0

    def flush(self) -> bool:
        self.flushed += 1
        self.jumped = self._jumps
        return False


def test_a_held_panes_old_jump_does_not_make_the_drawn_panes_jump(monkeypatch):
    """A pane out of view is held back, not flushed: its `jumped` is its last flush's. Read as
    this frame's, it made every running pane in view redraw its whole view, frame after frame."""
    held, drawn = FakePane(1), FakePane(2)
    held.jumped = True  # from a flush before it was scrolled out of view
    monkeypatch.setattr(flush.render, "on_screen", lambda screen: {drawn.output})
    monkeypatch.setattr(flush.render, "draw_now", lambda screen: None)
    screen = SimpleNamespace(is_attached=True, app=SimpleNamespace(is_running=True))

    async def one_flush() -> None:
        flusher = flush.PaneFlusher(screen, lambda: [held, drawn])
        flusher.mark_dirty(held)
        flusher.mark_dirty(drawn, now=True)
        await asyncio.sleep(0.01)

    asyncio.run(one_flush())
    assert (held.flushed, drawn.flushed) == (0, 1)
    assert drawn.output.jumped_early == 0


def test_a_drawn_pane_that_jumped_makes_the_other_running_panes_in_view_jump_early(monkeypatch):
    jumper, other = FakePane(1, jumps=True), FakePane(2)
    monkeypatch.setattr(flush.render, "on_screen", lambda screen: {jumper.output, other.output})
    monkeypatch.setattr(flush.render, "draw_now", lambda screen: None)
    screen = SimpleNamespace(is_attached=True, app=SimpleNamespace(is_running=True))

    async def one_flush() -> None:
        flusher = flush.PaneFlusher(screen, lambda: [jumper, other])
        flusher.mark_dirty(jumper, now=True)
        await asyncio.sleep(0.01)

    asyncio.run(one_flush())
    assert other.output.jumped_early == 1


class MountingPane(FakePane):
    """A pane made and run in one burst: it streams before its widgets are there (no view yet)."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.is_attached = self.running = True
        self.drawable = self.pending = self.jumped = False
        self.flushed = 0

    @property
    def output(self) -> View:
        raise AttributeError("no view before it is mounted")


def test_a_jump_while_a_running_pane_is_being_mounted_skips_that_pane(monkeypatch):
    """The key storm's bursts of new panes: the early jump asked every running pane for its view,
    and a pane still being mounted has none (the flush then stopped drawing every pane)."""
    jumper, mounting = FakePane(1, jumps=True), MountingPane(2)
    monkeypatch.setattr(flush.render, "on_screen", lambda screen: {jumper.output})
    monkeypatch.setattr(flush.render, "draw_now", lambda screen: None)
    screen = SimpleNamespace(is_attached=True, app=SimpleNamespace(is_running=True))
    raised = []

    async def one_flush() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: raised.append(context))
        flusher = flush.PaneFlusher(screen, lambda: [jumper, mounting])
        flusher.mark_dirty(jumper, now=True)
        flusher.mark_dirty(mounting)
        await asyncio.sleep(0.01)

    asyncio.run(one_flush())
    assert raised == []
    assert (jumper.flushed, mounting.flushed) == (1, 0)
