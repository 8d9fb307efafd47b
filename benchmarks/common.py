"""What every benchmark shares: the machine it ran on, medians and ratios, a results file.

Benchmarks measure; they never assert a time. Each prints a table and writes
`benchmarks/results/<name>.json` (git-ignored) so RESULTS.md can quote the figures with the
command that produced them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """The machine in words: CPU model, cores, memory, Python, TensorFlow and Keras versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }
    try:
        from importlib.metadata import version

        info["tensorflow"] = version("tensorflow")
        info["keras"] = version("keras")
    except Exception:  # informational only: a benchmark never fails for want of a version
        pass
    return info


def timed(function, repeats: int) -> list[float]:
    """Seconds each of `repeats` calls of `function` took."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def save(name: str, command: str, results: dict[str, Any]) -> Path:
    """Write the results with the machine and the command that reproduces them; print them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "command": command, "machine": machine(), "results": results}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return path


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The process's peak resident memory (VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


def watch_peak_rss(pid: int, found: dict) -> None:
    """Poll a child's VmHWM into `found["peak"]` until it exits (the kernel keeps the peak)."""
    while True:
        try:
            found["peak"] = peak_rss_bytes(pid)
        except (OSError, RuntimeError):  # gone, or a zombie with no memory left to report
            return
        time.sleep(0.2)


@dataclass
class Training:
    """One `python -m cifar train` process, run to its end."""

    run_dir: Path
    events: list[dict]  # its events.jsonl, each with the wall-clock `time` it was written
    launched: float  # wall-clock time of the launch, to compare with the events' times
    peak_rss_bytes: int
    returncode: int


def train_process(arguments: list[str]) -> Training:
    """Run `python -m cifar train ARGUMENTS` from the repository, watching its peak memory."""
    command = [sys.executable, "-m", "cifar", "train", *arguments]
    launched = time.time()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found: dict = {}
    watcher = threading.Thread(target=watch_peak_rss, args=(process.pid, found))
    watcher.start()
    run_dir = Path(process.stdout.readline().strip())  # the trainer prints its run folder first
    returncode = process.wait()
    watcher.join()
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return Training(run_dir, [json.loads(line) for line in lines], launched, found.get("peak", 0), returncode)


def steady_rate(fit, batch: int, seconds: float, probe_images: int) -> float:
    """Images a second of `fit(steps)` (which returns its seconds): warm up, size a run of
    about `seconds` from a probe, then time it."""
    probe = max(8, probe_images // batch)
    fit(probe)  # traces the graph and warms the kernels
    rate = probe / fit(probe)
    steps = max(8, int(rate * seconds) // 8 * 8)
    return steps * batch / fit(steps)
