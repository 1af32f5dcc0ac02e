"""What a server process tree costs, read from /proc: CPU seconds and peak RSS of a process and all its
descendants (`s3server serve` forks its workers, so the parent alone would show almost nothing)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set size of a process, from /proc (kB → MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                children.setdefault(int(_stat_fields(int(name))[1]), []).append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process still alive."""
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(pid)
            out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


class TreeCpu:
    """CPU seconds a process tree spends between construction and `.seconds()`: processes that appear
    in between count from zero; processes that vanish in between lose their share (rare, noted)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.before = cpu_seconds(process_tree(root))

    def seconds(self) -> float:
        after = cpu_seconds(process_tree(self.root))
        return sum(value - self.before.get(pid, 0.0) for pid, value in after.items())


def peak_rss_mib(root: int) -> tuple[float, float]:
    """(largest, summed) VmHWM over the tree, in MiB."""
    peaks = []
    for pid in process_tree(root):
        with contextlib.suppress(OSError, RuntimeError):
            peaks.append(vm_hwm_mib(pid))
    return (max(peaks, default=0.0), sum(peaks))


def reset_peak_rss(root: int) -> bool:
    """Reset VmHWM of the whole tree to the current RSS (`5` into /proc/PID/clear_refs), so that the
    next reading is the peak of what follows alone. False when the kernel refused for any process."""
    ok = True
    for pid in process_tree(root):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok
