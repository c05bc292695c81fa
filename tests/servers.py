"""Servers on 127.0.0.1 for tests and benchmarks: a free port, and a process run until it
answers. One definition, used by tests/conftest.py and benchmarks/measure.py."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    command: list[str],
    probe: str,
    log_path: Path,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until ``probe`` (a URL) answers; stop it afterwards."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    break
            except urllib.error.HTTPError:  # it answers, if only to refuse: it is up
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
