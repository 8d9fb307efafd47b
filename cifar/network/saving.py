"""A run's model.keras: saved whole, and loaded only when it carries no code.

Keras' `safe_mode` refuses a model file whose layers would run Python code on load (a Lambda,
a class from outside Keras); every load in this app goes through `load_model` here.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from cifar.atomic import NUMPY_READS, write_atomic
from cifar.errors import RunError


def save_model(model, path: Path) -> None:
    """Save `model` to `path`, renamed into place so a reader never opens half a file."""
    write_atomic(path, lambda temporary: model.save(temporary), suffix=".keras")


def save_weights(model, path: Path) -> None:
    """Save the arrays of `model`'s layers, in `get_weights` order, as an uncompressed .npz.

    Only the layers' weights: Keras' own `save_weights` adds the optimizer's state, three times
    the size, which looking inside an epoch does not need.
    """
    import numpy as np

    arrays = {f"w{index:04d}": array for index, array in enumerate(model.get_weights())}

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomic(path, write)


def load_weights(model, path: Path, what: str) -> None:
    """Put the arrays `save_weights` wrote into `model`, which must have the same layers.

    Raises:
        RunError: the file is damaged, or its arrays do not fit the model; `what` names it.
    """
    import numpy as np

    expected = [tuple(weight.shape) for weight in model.get_weights()]
    try:
        with NUMPY_READS, np.load(path, allow_pickle=False) as stored:
            arrays = [stored[name] for name in sorted(stored.files)]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise RunError(f"{what} is damaged ({error}); choose another epoch.") from error
    if [array.shape for array in arrays] != expected:
        raise RunError(f"{what} does not fit the run's network ({len(arrays)} arrays for {len(expected)}).")
    model.set_weights(arrays)


def load_model(path: Path, run_id: str):
    """The Keras model in `path`, run `run_id`'s, loaded with `safe_mode`.

    Raises:
        RunError: there is no model yet, or the file is a link to another file, carries code,
            or is damaged; the message says which, in words.
    """
    import keras

    from cifar.network.layers import FastOffset  # Keras too, as the schedule: loaded only when a model is
    from cifar.network.schedule import SteerableRate

    if not path.is_file():
        raise RunError(f"Run {run_id} has no model yet: no epoch has finished.")
    if path.is_symlink():  # the trainer renames a real file into place; a link points elsewhere
        raise RunError(f"Run {run_id}'s model.keras is a link to another file; only a run's own model is loaded.")
    try:
        return keras.saving.load_model(
            path, safe_mode=True, custom_objects={"SteerableRate": SteerableRate, "FastOffset": FastOffset}
        )
    except Exception as error:  # Keras raises ValueError, TypeError, OSError... for a bad file
        raise RunError(_refusal(run_id, path, error)) from error


def _refusal(run_id: str, path: Path, error: Exception) -> str:
    """Why run `run_id`'s model file `path` was not loaded, in words a student can act on."""
    reason = str(error)
    if "safe_mode" in reason or "arbitrary code" in reason:
        return (
            f"Run {run_id}'s model holds Python code (a Lambda or custom layer), and this app never runs code "
            "from a model file. Train the model here instead."
        )
    if not zipfile.is_zipfile(path):  # Keras says "File not found" for these, which misleads
        detail = "it is not a .keras archive: empty, cut short or another kind of file"
    else:
        detail = reason.splitlines()[0][:160] if reason else type(error).__name__
    return (
        f"Run {run_id}'s model.keras is damaged or is not a Keras model this app can read ({detail}). "
        "Its curves and predictions still show; train it again for a model."
    )
