"""Where a training step's time goes on this CPU: oneDNN's own timing of every kernel it runs.

    .venv/bin/python benchmarks/profile_record.py [--preset record] [--steps 20] [--float32]
        [--inter-op N]

Trains the preset's network (the app's own `build_model`, its precision and its train step) for
`--steps` steps on random images at its batch, after a warm-up that traces the step, twice in
child processes: once plain, for the step's true wall time, and once with `ONEDNN_VERBOSE=1`,
so that oneDNN prints every primitive it runs with its implementation (the kernel: `brg_conv`,
`jit`, `gemm`, `ref`...) and its time. The table sums them per step by kind and direction
(convolution forward, backward data, backward weights; pooling; reorders between memory
layouts; ...), beside the step: what oneDNN does not run (BatchNorm, which TensorFlow runs
itself here, the element-wise ops, the optimizer's updates, the weight average, the framework
between ops) is the rest.
The slowest convolutions follow, with the kernel each ran. Verbose timing adds its own printing
to the verbose child's wall time, so the shares are of the plain child's step. TensorFlow runs
up to as many ops at once as there are cores (its inter-op threads), each timed by oneDNN as it
shares the cores, so the sums can pass the step's time; `--inter-op 1` runs one op at a time,
for a clean split and to see what the overlap is worth.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

from common import ROOT, machine, save

MARK = "@@profile"
WARMUP_STEPS = 3


def child(preset_name: str, steps: int, float32: bool, inter_op: int) -> None:
    """In this process: warm up, then time `steps` training steps between two marks on stdout."""
    import keras
    import numpy as np
    import tensorflow as tf

    from cifar.config.presets import preset
    from cifar.config.settings import IMAGE_SHAPE, NUM_CLASSES
    from cifar.network.build import build_model, training_targets
    from cifar.network.devices import compute_precision

    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    config = preset(preset_name)
    config = config.replace(mixed_precision=config.mixed_precision and not float32)
    precision = compute_precision(config).policy
    model = build_model(config, precision=precision)
    rng = np.random.default_rng(0)

    def fit(count: int) -> float:
        images = rng.integers(0, 256, (config.batch_size * count, *IMAGE_SHAPE), dtype=np.uint8)
        targets = training_targets(config, rng.integers(0, NUM_CLASSES, len(images)))
        ends: list[float] = []
        clock = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: ends.append(time.perf_counter()))
        model.fit(images, targets, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
        return (ends[-1] - ends[0]) / (len(ends) - 1)

    fit(WARMUP_STEPS)  # traces the step
    # One fit of steps + 1 batches, timed between batch ends: the first batch's start is left out.
    print(f"{MARK} start", flush=True)
    step = fit(steps + 1)
    figures = {"step_seconds": step, "precision": precision, "batch": config.batch_size}
    print(f"{MARK} end {json.dumps(figures)}", flush=True)


def run_child(preset_name: str, steps: int, float32: bool, inter_op: int, verbose: bool) -> tuple[dict, list[str]]:
    """A child's step figures and the oneDNN lines it printed between the marks."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", ONEDNN_VERBOSE_TIMESTAMP="0")
    env |= {"ONEDNN_VERBOSE": "1"} if verbose else {}
    command = [sys.executable, __file__, "--child", "--preset", preset_name, "--steps", str(steps)]
    command += ["--inter-op", str(inter_op)]
    command += ["--float32"] if float32 else []
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the profiled training failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{MARK} start"))
    end = next(i for i, line in enumerate(lines) if line.startswith(f"{MARK} end"))
    return json.loads(lines[end].split(" ", 2)[2]), lines[start + 1 : end]


def primitives(lines: list[str]) -> list[dict]:
    """oneDNN's primitive exec lines (`onednn_verbose,v1,primitive,exec,cpu,KIND,IMPLEMENTATION,
    DIRECTION,MEMORY,ATTRIBUTES,AUXILIARY,PROBLEM,MS`): kind, implementation, direction, problem
    and milliseconds. Raises ValueError where there are none: another oneDNN's format reads as
    nothing, and must not read as a step spent outside oneDNN."""
    found = []
    for line in lines:
        fields = line.split(",")
        if len(fields) < 13 or fields[:4] != ["onednn_verbose", "v1", "primitive", "exec"]:
            continue
        found.append(
            {
                "kind": fields[5],
                "implementation": fields[6],
                "direction": fields[7],
                "problem": fields[-2],
                "ms": float(fields[-1]),
            }
        )
    if not found:
        raise ValueError("no oneDNN primitive was timed: is ONEDNN_VERBOSE's format this script's (v1)?")
    return found


def profile(preset_name: str, steps: int, float32: bool, inter_op: int) -> dict:
    """The step's wall time and oneDNN's kernels per step, by kind and direction."""
    plain, _ = run_child(preset_name, steps, float32, inter_op, verbose=False)
    verbose, lines = run_child(preset_name, steps, float32, inter_op, verbose=True)
    found = primitives(lines)
    step_ms = plain["step_seconds"] * 1000
    batches = steps + 1  # between the marks: the timed steps and the batch they are timed from
    by_kind: dict[tuple[str, str], float] = collections.defaultdict(float)
    by_conv: dict[tuple[str, str, str], float] = collections.defaultdict(float)
    for each in found:
        by_kind[each["kind"], each["direction"]] += each["ms"] / batches
        if each["kind"] == "convolution":
            by_conv[each["direction"], each["implementation"], each["problem"]] += each["ms"] / batches
    in_onednn = sum(by_kind.values())
    kinds = [
        {"kind": kind, "direction": direction, "ms_per_step": round(ms, 2), "share": round(ms / step_ms, 3)}
        for (kind, direction), ms in sorted(by_kind.items(), key=lambda item: -item[1])
    ]
    convolutions = [
        {"direction": d, "kernel": impl, "problem": problem, "ms_per_step": round(ms, 2)}
        for (d, impl, problem), ms in sorted(by_conv.items(), key=lambda item: -item[1])[:12]
    ]
    return {
        "preset": preset_name,
        "precision": plain["precision"],
        "batch": plain["batch"],
        "steps": steps,
        "inter_op_threads": inter_op or "TensorFlow's default",
        "step_ms": round(step_ms, 1),
        "verbose_step_ms": round(verbose["step_seconds"] * 1000, 1),
        "images_per_second": round(plain["batch"] / plain["step_seconds"], 1),
        "onednn_ms_per_step": round(in_onednn, 1),
        "outside_onednn_ms_per_step": round(step_ms - in_onednn, 1),
        "kinds": kinds,
        "slowest_convolutions": convolutions,
    }


def show(result: dict) -> None:
    print(
        f"{result['preset']} in {result['precision']}, batch {result['batch']}, inter-op threads "
        f"{result['inter_op_threads']}: {result['step_ms']} ms a step "
        f"({result['images_per_second']} images/s); oneDNN {result['onednn_ms_per_step']} ms, "
        f"the rest {result['outside_onednn_ms_per_step']} ms"
    )
    for row in result["kinds"]:
        print(f"  {row['kind']:<22} {row['direction']:<18} {row['ms_per_step']:>8.2f} ms  {row['share']:>6.1%}")
    print("  slowest convolutions:")
    for row in result["slowest_convolutions"]:
        print(f"  {row['direction']:<18} {row['kernel']:<32} {row['ms_per_step']:>8.2f} ms  {row['problem']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="record")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--float32", action="store_true", help="profile in float32 (default: the bfloat16 it trains in)"
    )
    parser.add_argument("--inter-op", type=int, default=0, help="ops TensorFlow runs at once (0: its default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.preset, args.steps, args.float32, args.inter_op)
        return
    result = profile(args.preset, args.steps, args.float32, args.inter_op)
    show(result)
    flags = f" --preset {args.preset} --steps {args.steps} --inter-op {args.inter_op}"
    flags += " --float32" if args.float32 else ""
    save(f"profile-{args.preset}", f"python benchmarks/profile_record.py{flags}", {"cpu": machine()["cpu"], **result})


if __name__ == "__main__":
    main()
