"""`python -m cifar runs`: every run, newest first, with who launched it and where the live
ones stand (their place in line and expected wait, or their progress)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cifar.launch import launcher
from cifar.launch.waits import live_places
from cifar.runs.owner import administrator, clean_who
from cifar.runs.run import find_run, list_runs, runs_root
from cifar.study.compare import run_summary


def add_runs_command(commands) -> None:
    runs = commands.add_parser(
        "runs",
        help="list runs, newest first, with the queue",
        description="List runs, newest first: queued ones with their place in line and expected wait, "
        "training ones with their progress.",
    )
    runs.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    runs.add_argument("--who", help="only the runs launched under this name")
    runs.add_argument("--live", action="store_true", help="only the queued and training runs, in the order they train")
    runs.add_argument("--json", action="store_true", help="print JSON")


def _rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    live_jobs, where = live_places(args.runs_dir)
    runs = [job.run for job in live_jobs] if args.live else list_runs(args.runs_dir)
    who = clean_who(args.who) if args.who is not None else None
    rows = []
    for run in runs:
        row = run_summary(run)
        if who is not None and row["who"] != who:
            continue
        place = where.get(run.id)
        row["place"] = place.describe() if place else None
        row["queue_position"] = place.position if place else None
        row["starts_in_seconds"] = round(place.starts_in) if place else None
        row["ends_in_seconds"] = round(place.ends_in) if place else None
        rows.append(row)
    return rows


def cmd_runs(args: argparse.Namespace) -> int:
    rows = _rows(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        if args.who or args.live:
            print("No runs match.")
        else:
            print(f"No runs in {runs_root(args.runs_dir)} yet. Start one: python -m cifar train --preset quick")
        return 0
    width = max(12, *(len(row["who"]) for row in rows))
    print(f"{'run':<44} {'who':<{width}} {'state':<11} {'epochs':>7} {'test acc':>8} {'best':>6} {'time':>8}")
    for row in rows:
        accuracy = "" if row["final_accuracy"] is None else f"{row['final_accuracy']:.3f}"
        best = "" if row["best_accuracy"] is None else f"{row['best_accuracy']:.3f}"
        seconds = "" if row["seconds"] is None else f"{row['seconds'] / 60:.1f} min"
        line = (
            f"{row['id']:<44} {row['who']:<{width}} {row['state']:<11} {row['epoch']:>3}/{row['epochs'] or '?':<3} "
            f"{accuracy:>8} {best:>6} {seconds:>8}"
        )
        print(line + (f"   {row['place']}" if row["place"] else ""))
    return 0


def add_stop_command(commands) -> None:
    stop = commands.add_parser(
        "stop", help="stop a queued or running training", description="Stop a training after its current batch."
    )
    stop.add_argument("run", help="run id or run directory")
    stop.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")


def cmd_stop(args: argparse.Namespace) -> int:
    run = find_run(args.run, args.runs_dir)
    if launcher.stop(run, person=administrator()):
        print(f"asked {args.run} to stop after its current batch", flush=True)
        ended = launcher.wait_for_stop(run)  # a Ray cluster's run: up to CIFAR_RAY_STOP_GRACE, then Ray ends its job
        if ended:
            print(ended)
        return 0
    print(f"{args.run} is not queued or running; nothing to stop")
    return 0
