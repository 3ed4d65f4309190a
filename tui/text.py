"""Making model output safe to show: it is plain text, never markup, and never terminal controls."""

from __future__ import annotations

import re

# C0 controls (but newline and tab), DEL and C1 controls: an ESC in model output must never reach
# the terminal as an escape sequence. They are shown as Unicode "control pictures" instead.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def printable(text: str) -> str:
    """The text with control characters replaced by visible symbols (newline and tab kept)."""
    return _CONTROLS.sub(_picture, text)
