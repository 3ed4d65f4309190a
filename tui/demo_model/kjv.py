"""The demo model's training corpus: the King James Version of the Bible, from Debian.

Debian's `bible-kjv-text` package carries the text (public domain: the translation dates from
1611; the package's copyright file says so) in a compressed format that the `bible` program of
the `bible-kjv` package prints. Both are fetched with `apt-get download` (no root needed) and
unpacked with `dpkg-deb -x` into a cache directory, so nothing is installed on the system.

Only the training script needs this; the app runs on the committed weights.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("bible-kjv-text", "bible-kjv")
LICENCE = "public domain (King James Version, 1611); Debian packages bible-kjv-text and bible-kjv"

_HEADER = re.compile(r"^(?P<book>\S.*?) (?P<chapter>\d+)$")
_VERSE = re.compile(r"^\s+(?P<verse>\d+) (?P<text>.+)$")
_WORD_EDGES = "\"'()[],.;:?!-"


@dataclass(frozen=True)
class Chapter:
    book: str
    number: int
    verses: tuple[str, ...]


def fetch(cache: Path) -> Path:
    """Download and unpack the two Debian packages into `cache`; return the printed text's path."""
    out = cache / "kjv.txt"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: the corpus comes from Debian's packages {PACKAGES}")
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=cache, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = cache / "root"
    for deb in sorted(cache.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    text = subprocess.run(
        [str(root / "usr/bin/bible"), "-p", str(root / "usr/lib"), "-l100000", "Gen1:1-Rev22:21"],
        check=True, capture_output=True, text=True,
    ).stdout
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(out)
    return out


def parse(text: str) -> list[Chapter]:
    """Split the `bible` program's output into chapters of verses."""
    chapters: list[Chapter] = []
    book, number, verses = None, 0, []
    for line in text.splitlines():
        if not line.strip():
            continue
        if m := _VERSE.match(line):
            verses.append(" ".join(m["text"].split()))
        elif m := _HEADER.match(line):
            if book is not None:
                chapters.append(Chapter(book, number, tuple(verses)))
            book, number, verses = m["book"], int(m["chapter"]), []
        else:
            raise ValueError(f"unexpected line in the corpus: {line[:80]!r}")
    if book is not None:
        chapters.append(Chapter(book, number, tuple(verses)))
    return chapters


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bare_word(word: str) -> str:
    """A whitespace-separated word without its surrounding punctuation."""
    return word.strip(_WORD_EDGES)


def normalise_word(word: str) -> str:
    """A whitespace-separated word, without its surrounding punctuation, in lower case."""
    return bare_word(word).lower()


def words_of(text: str) -> list[str]:
    return [w for w in (normalise_word(raw) for raw in text.split()) if w]
