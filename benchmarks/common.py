"""What every benchmark shares: a description of the machine and a uniform report."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def machine() -> str:
    """One line: date, CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    return (
        f"{dt.date.today().isoformat()}, {cpu}, {os.cpu_count()} cores{mem},"
        f" Python {platform.python_version()}"
    )


def report(name: str, lines: list[str], where: str) -> None:
    """Print a benchmark's result block (copy it into docs/performance/)."""
    print(f"== {name} == {where}")
    for line in lines:
        print(f"   {line}")
