"""Wall time and peak resident memory of a block of code (Linux ``/proc``), shared by the benchmarks."""

from __future__ import annotations

import time
from pathlib import Path


def rss_mib(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


class Step:
    """Wall time (s) and peak resident-memory growth (MiB) of one ``with`` block."""

    def __enter__(self):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.rss = rss_mib("VmRSS")
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak = rss_mib("VmHWM") - self.rss
