"""Measuring a process from its start to its exit: wall seconds and the peak resident memory of its whole tree.

The benchmark runs the baseline and the product the same way, each as a subprocess, so neither is measured with
the other's interpreter, imports or caches in the way; dbt runs as a child of the product, and its memory counts.
"""

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


class PeakMemory:
    """Samples the resident memory of a process plus all its descendants, every `interval` seconds, until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # the process has exited
            return 0
        total = 0
        for proc in tree:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a child exited between the listing and the reading
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Measured:
    exit_code: int
    wall_seconds: float
    peak_rss_bytes: int
    stdout: Path  # what the process printed (stdout and stderr)


def run_measured(command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run `command` with `env` added to this environment, its output to `log`; measure it until it exits."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        with PeakMemory(process.pid) as memory:
            exit_code = process.wait()
        wall = time.perf_counter() - started
    return Measured(exit_code, round(wall, 2), memory.peak, log)


def file_bytes(path: Path) -> int:
    """Size of a DuckDB file with its write-ahead log, if one is left."""
    wal = path.with_name(path.name + ".wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())
