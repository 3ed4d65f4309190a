"""The stream the app draws on: it keeps working after the terminal goes away (a closed window, a
dropped ssh connection), so the app can still quit and stop the engine."""

from __future__ import annotations

import errno
import os
import pty

import pytest

from tui.terminal import TerminalDevice, terminal_stream


def test_text_reaches_the_terminal_while_it_is_there():
    master, slave = pty.openpty()
    stream = terminal_stream(slave, "utf-8")
    try:
        stream.write("ready ✓\n")
        assert os.read(master, 100).replace(b"\r\n", b"\n") == "ready ✓\n".encode()
        assert not stream.buffer.raw.gone
    finally:
        stream.close()
        os.close(master)


def test_writes_after_the_terminal_has_gone_are_dropped_without_an_error():
    master, slave = pty.openpty()
    stream = terminal_stream(slave, "utf-8")
    try:
        os.close(master)
        for _ in range(200):  # far more than any buffer holds
            stream.write("x" * 10_000 + "\n")
        stream.flush()
        assert stream.buffer.raw.gone
    finally:
        stream.close()


def test_other_write_errors_are_still_raised(tmp_path):
    read_only = os.open(tmp_path / "f", os.O_RDONLY | os.O_CREAT)
    device = TerminalDevice(read_only, "w")  # a descriptor that cannot be written: EBADF
    try:
        with pytest.raises(OSError) as raised:
            device.write(b"x")
        assert raised.value.errno == errno.EBADF and not device.gone
    finally:
        device.close()
