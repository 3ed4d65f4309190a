"""Alt+letter keys that arrive together are read as alt+letter each (Textual reads all but the last
as '^' and the letter: typed into the prompt).

A terminal sends alt+n as ESC n. Textual's parser, having read ESC n, waits up to ESCDELAY for more
of a longer sequence; when the next byte is another ESC, it gives the pair up as plain keys (ESC
shown as '^'), where a timeout would have given alt+n. Keys arrive together when they are typed
faster than ESCDELAY (100 ms: alt+w alt+w to close two panes, a held alt+n, alt+n and a letter),
over ssh, or when a busy app reads its input late. ESC and a letter never start a longer sequence
(but for the introducers below), so when anything follows them they are ended as the timeout
ends them.

Textual 8.2.8 behaves so (and its newest source still does); the parser's private state is used,
so the fix is installed on the tested versions only (`install`).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import version

from textual import events
from textual._parser import ParseTimeout  # noqa: PLC2701
from textual._xterm_parser import XTermParser  # noqa: PLC2701

ESC = "\x1b"
# What may follow ESC as the start of a longer sequence (CSI, SS3, DCS, OSC, APC, PM): never an alt key here.
_INTRODUCERS = frozenset("[OP]_^" + ESC)
_original_feed = XTermParser.feed


def _waiting(parser: XTermParser) -> bool:
    """The parser holds a sequence and waits for more of it (up to the escape delay)."""
    return parser._timeout_time is not None  # noqa: SLF001


def _end_pending(parser: XTermParser) -> Iterable[events.Event]:
    """What the escape delay's timeout would do now (Parser.tick, without waiting for it)."""
    parser._timeout_time = None  # noqa: SLF001
    parser._awaiting = parser._gen.throw(ParseTimeout())  # noqa: SLF001
    tokens = parser._tokens  # noqa: SLF001
    while tokens:
        yield tokens.popleft()


def _alt_key_ends(tail: str, data: str) -> list[int]:
    """Where in `data` an ESC and a letter end with more after them (`tail`: the last read's end)."""
    before = tail[-1:]
    text = before + data
    ends, at = [], text.find(ESC)
    while at != -1:
        end = at + 2 - len(before)
        if at + 1 < len(text) and text[at + 1] not in _INTRODUCERS and 0 < end < len(data):
            ends.append(end)
        at = text.find(ESC, at + 1)
    return ends


def _feed(self: XTermParser, data: str) -> Iterable[events.Event]:
    tail = self.__dict__.get("_tail", "")
    self.__dict__["_tail"] = (tail + data)[-2:]
    if ESC not in data and ESC not in tail:
        yield from _original_feed(self, data)
        return
    if data and len(tail) == 2 and tail[0] == ESC and tail[1] not in _INTRODUCERS and _waiting(self):
        yield from _end_pending(self)  # the last read ended with an alt key: nothing longer follows
    start = 0
    for end in _alt_key_ends(tail, data):
        yield from _original_feed(self, data[start:end])
        if _waiting(self):
            yield from _end_pending(self)
        start = end
    yield from _original_feed(self, data[start:])


def install() -> bool:
    """Read alt key bursts as alt keys from now on (every parser); False on an untested Textual."""
    from tui.render import TESTED_TEXTUAL

    if version("textual") not in TESTED_TEXTUAL:
        return False
    XTermParser.feed = _feed  # type: ignore[method-assign]
    return True
