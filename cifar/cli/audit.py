"""`python -m cifar audit`: the class's audit log, oldest first (`--json` for a program)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from cifar.runs.audit import read_audit
from cifar.runs.run import runs_root


def add_audit_command(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser(
        "audit",
        help="print the audit log: every launch, stop, delete, continue, sign-in and refusal",
        description="Print the audit log of the runs folder, oldest first: who did what to which run, when, "
        "and what was refused.",
    )
    audit.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    audit.add_argument("--json", action="store_true", help="print JSON: a list of entries")
    audit.add_argument("--last", type=int, metavar="N", help="only the last N entries")


def _shown(text: str) -> str:
    """`text` with its unprintable characters escaped: a name typed at sign-in never drives the terminal."""
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit log, oldest first; the exit code is 0."""
    root = runs_root(args.runs_dir)
    log = read_audit(root)
    entries = list(log.entries)
    if args.last is not None:
        entries = entries[-args.last :] if args.last > 0 else []
    if log.notice:
        print(f"note: {log.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print(f"The audit log of {root} is empty: nothing has been launched, stopped or signed in yet.")
        return 0
    for entry in entries:
        who = entry.who or "(no name)"
        refused = "REFUSED " if entry.outcome == "refused" else "FAILED " if entry.outcome == "failed" else ""
        run = f" {entry.run}" if entry.run else ""
        detail = f": {entry.detail}" if entry.detail else ""
        print(_shown(f"{entry.when}  {who} ({entry.role}, {entry.how})  {refused}{entry.action}{run}{detail}"))
    return 0
