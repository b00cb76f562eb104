"""Progress bars for the long steps (the local pool's install, the bench): tqdm on a terminal, nothing when quiet.

`ProgressBar(total, desc)` shows a tqdm bar on stderr where tqdm is installed (the `bench` and `test` extras have it),
else a line every `every_s` seconds; it shows nothing at all when `enabled` is false, which `progress_wanted` makes
it under `--quiet` and in CI (`CI=true`), where a bar would only fill the log.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = ["ProgressBar", "progress_wanted"]


def progress_wanted(quiet: bool = False) -> bool:
    """Whether to show progress: not under `--quiet`, and not in CI (`CI=true` or `CI=1`).

    Examples:
        >>> progress_wanted(quiet=True)
        False
    """
    return not quiet and os.environ.get("CI", "").strip().lower() not in ("1", "true")


class ProgressBar:
    """A bar over `total` steps (None: unknown, the bar shows the elapsed time and the count).

    Examples:
        >>> bar = ProgressBar(3, "demo", enabled=False)
        >>> bar.update("one"); bar.close(); bar.count
        1
    """

    def __init__(self, total: int | None, desc: str, *, unit: str = "it", initial: int = 0, enabled: bool = True,
                 every_s: float = 5.0) -> None:
        self.total, self.desc, self.unit, self.count, self.enabled = total, desc, unit, initial, enabled
        self.every_s = every_s
        self._bar: Any = None
        self._last = 0.0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                         mininterval=0.5, unit_scale=unit == "B")

    def update(self, label: str = "", n: int = 1) -> None:
        """`n` more steps done; `label` says what the last one was."""
        self.count += n
        if self._bar is not None:
            if label:
                self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(n)
        elif self.enabled and (time.monotonic() - self._last > self.every_s or self.count == self.total):
            self._last = time.monotonic()
            of = f"/{self.total}" if self.total is not None else ""
            print(f"{self.desc}: {self.count}{of}" + (f" ({label})" if label else ""), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
