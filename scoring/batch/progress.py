"""Progress of a rescoring run: a bar with rows/s and ETA on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def advance(self, rows: int) -> None: ...
    def close(self) -> None: ...


def _eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LogProgress:
    """A plain line every `every` seconds (and at the end): for logs, cron and CI."""

    def __init__(self, total: int, stream: TextIO, every: float = 10.0) -> None:
        self.total, self.stream, self.every = total, stream, every
        self.done = 0
        self.began = self.last = time.perf_counter()

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        eta = (self.total - self.done) / rate if rate else float("inf")
        return (
            f"rescore: {self.done:,}/{self.total:,} leads ({share:.0%}), "
            f"{rate:,.0f} rows/s, ETA {_eta(eta)}"
        )

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        print(self.line(), file=self.stream, flush=True)


class BarProgress:
    """rich's progress bar: leads done of total, rows/s, elapsed and ETA."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("rescore"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:>10} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )
        self.began = time.perf_counter()
        self.done = 0
        self.task = self.bar.add_task("rescore", total=total, rate="-")
        self.bar.start()

    def advance(self, rows: int) -> None:
        self.done += rows
        rate = self.done / max(time.perf_counter() - self.began, 1e-9)
        self.bar.update(self.task, advance=rows, rate=f"{rate:,.0f}")

    def close(self) -> None:
        self.bar.stop()


def progress(total: int, stream: TextIO | None = None, every: float = 10.0) -> Progress:
    stream = stream or sys.stderr
    if stream.isatty():
        return BarProgress(total, stream)
    return LogProgress(total, stream, every)
