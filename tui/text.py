"""The one gate for outside text.

Whatever comes from outside (model output, a server's replies and error messages, model ids,
URLs, file contents, config and theme values, exception text) passes through `printable` or
`one_line` before it reaches a terminal, a markup parser or a file:

- C0 and C1 control characters (but newline and tab) and DEL become visible symbols ("control
  pictures"): an ESC in a server's error message must never reach the terminal as an escape
  sequence;
- lone surrogates (valid in JSON, not encodable as UTF-8) become U+FFFD, so that the text can be
  written anywhere.

It is plain text from then on: the UI draws it as Rich `Text` or with `markup=False`, never as
markup.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
# `user:password@` of a URL, up to its last @ (a password may hold one)
_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s?#]*@")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def printable(text: str) -> str:
    """The text with control characters shown as symbols and lone surrogates replaced (newline
    and tab kept)."""
    return _UNSAFE.sub(_picture, text)


def without_surrogates(text: str) -> tuple[str, int]:
    """(text with lone surrogates as U+FFFD, how many there were)."""
    return _SURROGATES.subn("\ufffd", text)


def one_line(value: object, limit: int = 300) -> str:
    """Any value (a message, an exception, a number from a file) as one line of safe text, at most
    `limit` characters, with any `user:password@` of a URL in it taken out."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # a hostile __str__
        text = f"<{type(value).__name__}>"
    text = printable(_CREDENTIALS.sub(r"\1", _SPACES.sub(" ", text).strip()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def without_credentials(url: str) -> str:
    """A URL as it may be shown or logged: any `user:password@` taken out."""
    return _CREDENTIALS.sub(r"\1", url)


_TOKEN_WHITESPACE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def token_text(text: str, limit: int = 40) -> str:
    """A token as a person reads it in a list of tokens: spaces and line ends visible (␣ ↵ ⇥),
    safe, short. "" shows as ∅ (a byte piece that joins the next token)."""
    if not text:
        return "∅"
    shown = printable(text.translate(_TOKEN_WHITESPACE))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def short_path(path: object) -> str:
    """A path as a person reads it: the home directory as ~, safe."""
    import os

    text = str(path)
    home = os.path.expanduser("~")
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        text = "~" + text[len(home):]
    return one_line(text, 500)
