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
import tempfile
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


# --- a preset's whole process beside the tutorial's 10 epochs (benchmarks 8 and 15) -----------

EPOCHS_OF_TUTORIAL = 10


def tutorial_epoch(data: str | None) -> dict:
    """One bare epoch of the tutorial's fit and its test, in a process of its own
    (benchmarks/bare_fit.py); ten of them are the time a preset must beat."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bare_fit.py"), "--preset", "tutorial"]
    command += ["--data", data] if data else []
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["epoch_seconds"] = result["train_seconds"] + result["val_seconds"]
    return result


def preset_run(name: str, runs: Path, data: str | None, target: float, flags: tuple[str, ...] = ()) -> dict:
    """The whole training process of a preset (with `flags` on top), timed from launch to exit."""
    arguments = ["--preset", name, *flags, "--runs-dir", str(runs)] + (["--data", data] if data else [])
    training = train_process(arguments)
    ended = time.time()
    if training.returncode != 0:
        raise SystemExit(f"{name} training failed: see {training.run_dir}/status.json")
    epochs = [e for e in training.events if e["type"] == "epoch"]
    start = next(e for e in training.events if e["type"] == "start")
    status = json.loads((training.run_dir / "status.json").read_text())
    hit = next((e for e in epochs if e["val_accuracy"] >= target), None)
    return {
        "seconds": round(ended - training.launched, 1),
        "seconds_to_target": hit and round(hit["time"] - training.launched, 1),
        "startup_seconds": round(start["time"] - training.launched, 1),
        "accuracy": epochs[-1]["val_accuracy"],
        "tested_on_images": start["test_images"],
        "peak_rss_mb": round(training.peak_rss_bytes / 1e6),
        "precision": status.get("precision"),
        "machine": status.get("machine"),
        "images_per_second_median": median([e["images_per_second"] for e in epochs]),
        "epochs": [
            {key: e[key] for key in ("epoch", "val_accuracy", "accuracy", "loss", "val_loss", "seconds")}
            | {"since_launch_seconds": round(e["time"] - training.launched, 1)}
            for e in epochs
        ],
    }


def side_by_side(
    preset: str,
    repeats: int,
    data: str | None,
    target: float,
    flags: tuple[str, ...] = (),
    seeds: tuple[int, ...] = (),
) -> dict[str, Any]:
    """`repeats` times (once per seed where `seeds` are given, each run with `--seed`), one bare
    tutorial epoch and then the whole preset process, alternating so that a drift in the
    machine's speed hits both; the times, accuracies (their mean and spread: across seeds, or
    with one seed only what the machine's arithmetic varies) and ratios."""
    references, runs = [], []
    seeded = [("--seed", str(seed)) for seed in seeds] or [()] * repeats
    with tempfile.TemporaryDirectory() as folder:
        for repeat, seed_flags in enumerate(seeded):
            references.append(tutorial_epoch(data))
            runs.append(preset_run(preset, Path(folder), data, target, flags + seed_flags))
            budget = EPOCHS_OF_TUTORIAL * references[-1]["epoch_seconds"]
            print(
                f"repeat {repeat + 1}{' (' + ' '.join(seed_flags) + ')' if seed_flags else ''}: "
                f"{preset} {runs[-1]['accuracy']:.4f} in {runs[-1]['seconds']:.0f} s; "
                f"the tutorial's 10 epochs {budget:.0f} s: ratio {runs[-1]['seconds'] / budget:.2f}",
                flush=True,
            )
    budgets = [EPOCHS_OF_TUTORIAL * r["epoch_seconds"] for r in references]
    ratios = [run["seconds"] / budget for run, budget in zip(runs, budgets, strict=True)]
    return {
        "preset": preset,
        "flags": list(flags),
        "repeats": len(runs),
        "seeds": list(seeds),
        "accuracy": [run["accuracy"] for run in runs],
        "accuracy_mean": round(statistics.mean(run["accuracy"] for run in runs), 4),
        "accuracy_spread": round(max(r["accuracy"] for r in runs) - min(r["accuracy"] for r in runs), 4),
        "seconds": [run["seconds"] for run in runs],
        "target": target,
        "seconds_to_target": [run["seconds_to_target"] for run in runs],
        "tutorial_ten_epochs_seconds": [round(b, 1) for b in budgets],
        "ratio_per_repeat": [round(r, 3) for r in ratios],
        "ratio_median": round(median(ratios), 3),
        "preset_images_per_second_median": median([run["images_per_second_median"] for run in runs]),
        "tutorial_images_per_second_median": round(median([r["steady_images_per_second"] for r in references]), 1),
        "peak_rss_mb": [run["peak_rss_mb"] for run in runs],
        "runs": runs,
        "tutorial_epochs": references,
    }
