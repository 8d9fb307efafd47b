"""A run's config.json: the ModelConfig it trains, written once by the launcher."""

from __future__ import annotations

import json
from pathlib import Path

from cifar.atomic import write_json_atomic
from cifar.config.settings import ModelConfig, config_from_dict
from cifar.errors import ConfigError, RunError, os_errors_as


def save_config(config: ModelConfig, path: str | Path) -> None:
    """Write the config as JSON (atomically: a reader never sees half a file)."""
    write_json_atomic(Path(path), config.to_dict())


def load_config(path: str | Path) -> ModelConfig:
    """Read a config written by `save_config`.

    Raises:
        ConfigError: the file is not a valid config.
        RunError: it cannot be read (the run was deleted meanwhile, say).
    """
    with os_errors_as(RunError, f"Could not read {path}", "the run may have been deleted or moved meanwhile"):
        text = Path(path).read_text()
    try:
        values = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}).") from error
    return config_from_dict(values)
