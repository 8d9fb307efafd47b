"""Benchmark 10: what a class's sign-in costs each page run, and a sign-in itself.

    .venv/bin/python benchmarks/bench_signin.py [--people 30] [--repeats 2000]

Every script run of a page asks who is at it: in a class, the signed-in person from their
token (its signature, class, time, and that the name is still theirs: the signing key, the
names held and the class's rules read from the runs folder), else the one person alone. The
class's check runs side by side with the alone path, the reference, on a runs folder where
`--people` have signed in. A sign-in with the class code (the name held under a lock, a line
in the audit log) is timed too.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import median, percentile, save, timed

from cifar.classroom.signin import ClassSettings, person_from_token, release_name, sign_in_with_code
from cifar.runs.owner import administrator, alone

CLASS = ClassSettings(code="owl42", teacher_password="for-the-benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="bench-signin-"))
    tokens = [sign_in_with_code(CLASS, runs, f"Student {index:02d}", "owl42").token for index in range(args.people)]
    token = tokens[len(tokens) // 2]
    check = timed(lambda: person_from_token(token, CLASS, runs), args.repeats)
    reference = timed(lambda: alone("Student 15"), args.repeats)

    def sign_in_again() -> None:
        release_name(administrator(), "Student 00", runs)
        sign_in_with_code(CLASS, runs, "Student 00", "owl42")

    sign_in = timed(sign_in_again, max(20, args.repeats // 20))
    results = {
        "people_signed_in": args.people,
        "token_check_ms": {"median": median(check) * 1e3, "p95": percentile(check, 0.95) * 1e3},
        "alone_ms": {"median": median(reference) * 1e3, "p95": percentile(reference, 0.95) * 1e3},
        "token_check_over_alone": median(check) / median(reference),
        "release_and_sign_in_ms": {"median": median(sign_in) * 1e3, "p95": percentile(sign_in, 0.95) * 1e3},
    }
    save(
        "signin",
        f".venv/bin/python benchmarks/bench_signin.py --people {args.people} --repeats {args.repeats}",
        results,
    )


if __name__ == "__main__":
    main()
