"""Progress of long start-up work (loading a model, embedding the catalog): a tqdm bar on a
terminal, plain log lines otherwise (a service's log, CI, `docker logs`)."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Literal

ProgressSetting = Literal["auto", "on", "off"]


def bars_wanted(setting: ProgressSetting, stream: IO[str] | None = None) -> bool:
    """PROGRESS_BARS: `auto` draws bars only when stderr is a terminal."""
    if setting != "auto":
        return setting == "on"
    stream = stream if stream is not None else sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """`with Progress(total, "embedding the catalog", bar=..., log=log) as p: ... p.update(n)`.

    With `bar`, a tqdm bar on `stream` (stderr); without, one log line when the work starts and
    one when it ends, with the count and the time taken."""

    def __init__(self, total: int, description: str, *, bar: bool, log: logging.Logger, unit: str = "it",
                 stream: IO[str] | None = None) -> None:
        self.total = total
        self.description = description
        self.log = log
        self.unit = unit
        self.done = 0
        self._started = time.perf_counter()
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit=unit, file=stream or sys.stderr, leave=True,
                             dynamic_ncols=True)
        else:
            log.info("%s: %d %s...", description, total, unit)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self.log.info("%s: %d/%d %s in %.1f s", self.description, self.done, self.total, self.unit,
                          time.perf_counter() - self._started)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
