"""cifar.config.presets: each Preset record holds together (its figures, its machine), `preset`
refuses an unknown name in words, `changed_fields` and `nearest_preset` say how a config
differs, and the README's results table shows each preset's accuracy as its record has it."""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import ROOT

from cifar.cli.main import build_parser
from cifar.cli.train import config_from_args
from cifar.config.presets import (
    PRESETS,
    Machine,
    Preset,
    ablation_rows,
    changed_fields,
    flags_of,
    nearest_preset,
    preset,
)
from cifar.config.settings import ModelConfig, clash
from cifar.errors import ConfigError

NAMES = ["tutorial", "quick", "fast", "better", "best", "record"]


def test_the_presets_are_the_six_documented_ones_in_order():
    assert list(PRESETS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_record_holds_together(name):
    record = PRESETS[name]
    assert isinstance(record, Preset) and record.name == name and isinstance(record.config, ModelConfig)
    assert record.note.strip() and 0.1 < record.accuracy < 1.0  # above chance on ten classes
    assert record.seconds > 0
    assert isinstance(record.machine, Machine) and record.machine.description.strip()
    assert isinstance(record.machine.cpu_flags, frozenset) and all(isinstance(f, str) for f in record.machine.cpu_flags)


@pytest.mark.parametrize("name", NAMES)
def test_a_preset_measured_in_bfloat16_was_measured_on_a_cpu_that_computes_in_it(name):
    record = PRESETS[name]
    # The estimate scales a bfloat16 preset's time by whether this CPU has the same feature.
    if record.config.mixed_precision:
        assert "avx512_bf16" in record.machine.cpu_flags


def test_only_best_and_record_compute_in_16_bits_as_the_readme_says():
    assert [name for name, record in PRESETS.items() if record.config.mixed_precision] == ["best", "record"]


def test_preset_gives_the_records_config():
    assert preset("tutorial") == ModelConfig()
    assert preset("quick").epochs == 6 and preset("quick").train_size == 6000


@pytest.mark.parametrize("name", ["fastest", "Quick", "", " best"])
def test_an_unknown_preset_is_refused_with_the_list_of_names(name):
    with pytest.raises(ConfigError) as caught:
        preset(name)
    assert str(caught.value) == f"preset must be one of tutorial, quick, fast, better, best, record; got {name!r}"
    assert isinstance(caught.value, ValueError)


def test_changed_fields_lists_what_differs_from_the_preset_in_table_order():
    # quick against the tutorial's defaults, worked out from the two configs by hand.
    assert changed_fields(preset("quick"), "tutorial") == [
        "conv_blocks",
        "filters",
        "convs_per_block",
        "dense_units",
        "dropout",
        "batch_size",
        "epochs",
        "train_size",
    ]
    assert changed_fields(ModelConfig(seed=3, conv_blocks=2), "tutorial") == ["conv_blocks", "seed"]


def test_a_preset_unchanged_differs_in_nothing_and_an_unknown_base_is_refused():
    for name in NAMES:
        assert changed_fields(preset(name), name) == []
    with pytest.raises(ConfigError, match="preset must be one of"):
        changed_fields(ModelConfig(), "nope")


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_is_nearest_to_itself(name):
    assert nearest_preset(preset(name)) == (name, [])


def test_the_nearest_preset_is_the_one_with_fewest_changes():
    assert nearest_preset(preset("better").replace(epochs=3, seed=5)) == ("better", ["epochs", "seed"])


def test_a_tie_goes_to_the_first_preset_in_order():
    # Two fields from `fast` (augment, epochs) and two from `better` (dropout, lr_schedule).
    between = preset("fast").replace(augment=True, epochs=10)
    assert len(changed_fields(between, "better")) == 2
    assert nearest_preset(between) == ("fast", ["augment", "epochs"])


def _readme_table(heading: str) -> list[dict[str, str]]:
    """The first table under the README's `heading` line: each row's cells by column heading."""
    section = (ROOT / "README.md").read_text().split(f"\n{heading}\n", 1)[1]
    lines = section.splitlines()
    begin = next(index for index, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[begin:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    columns, rows = table[0], table[2:]  # table[1] is the --- line
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _results_rows() -> dict[str, dict[str, str]]:
    """The results table's rows, keyed by their first cell (the preset)."""
    return {row["preset"]: row for row in _readme_table("## Results")}


@pytest.mark.parametrize("name", NAMES)
def test_the_readmes_results_table_shows_each_presets_accuracy_as_its_record_does(name):
    rows = _results_rows()
    assert f"`{name}`" in rows, f"no row for `{name}` in the README's results table"
    cell = rows[f"`{name}`"]["test accuracy"]
    shown = re.search(r"\d+\.\d+", cell).group()  # the first figure; a note in brackets may follow
    assert shown == f"{PRESETS[name].accuracy}", f"README shows {shown} for {name}, its record {PRESETS[name].accuracy}"


@pytest.mark.parametrize("name", NAMES)
def test_the_readmes_results_table_names_the_machine_each_preset_was_measured_on(name):
    assert PRESETS[name].machine.description in _results_rows()[f"`{name}`"]["machine"]


# What `record` sets apart from `best`, the preset it starts from, that is not a technique:
# the widths and step sizes chosen for this machine, and the optimizer the schedule belongs to.
RECORD_SIZES = {"filters", "batch_size", "learning_rate", "optimizer"}


def test_records_ablation_changes_every_technique_and_starts_from_the_whole_recipe():
    ablation = PRESETS["record"].ablation
    assert ablation[0].changes == () and ablation[0].seconds is not None
    # Every technique `record` adds to `best` (found from the two configs, so a new one needs a
    # row), and the test-time flip the two share.
    techniques = set(changed_fields(preset("record"), "best")) - RECORD_SIZES | {"test_time_flip"}
    switched = {field for each in ablation for field, _ in each.changes}
    assert not techniques - switched, f"no ablation row for {sorted(techniques - switched)}"
    record = preset("record")
    for each in ablation[1:]:
        assert all(getattr(record, field) != value for field, value in each.changes), each.changes
        assert clash(record.replace(**dict(each.changes))) is None  # a config a launch accepts
        assert 0.1 < each.accuracy < 1.0 and (each.seconds is None or each.seconds > 0)


def test_ablation_rows_say_each_change_as_flags_and_in_points_against_the_whole_recipe():
    rows = ablation_rows("record")
    assert rows[0]["flags"] == "—" and len(rows) == len(PRESETS["record"].ablation) and ablation_rows("best") == []
    assert rows[0]["changed"] == "nothing: the whole recipe" and rows[0]["change (points)"] == "—"
    whole = PRESETS["record"].ablation[0].accuracy
    for row, each in zip(rows[1:], PRESETS["record"].ablation[1:], strict=True):
        args = build_parser().parse_args(["train", "--preset", "record", *shlex.split(row["flags"])])
        assert config_from_args(args) == preset("record").replace(**dict(each.changes)), row["flags"]
        points = float(row["change (points)"].replace("−", "-"))
        assert points == pytest.approx((each.accuracy - whole) * 100, abs=0.051)
    by_flags = {row["flags"]: row for row in rows}
    assert by_flags["--label-smoothing 0"]["changed"] == "Label smoothing: 0.2 → 0"
    assert by_flags["--no-whiten"]["changed"].endswith(": on → off")
    with pytest.raises(ConfigError, match="preset must be one of"):
        ablation_rows("recrod")


def test_flags_of_writes_what_the_command_line_reads():
    assert flags_of((("whiten", False), ("bn_bias_rate", 1), ("augment", True))) == (
        "--no-whiten --bn-bias-rate 1 --augment"
    )
    assert flags_of((("label_smoothing", 0.0), ("lr_schedule", "cosine"))) == "--label-smoothing 0 --lr-schedule cosine"


def test_a_presets_measured_figures_read_as_one_line_naming_the_cpu():
    assert PRESETS["quick"].measured_words == "0.513 test accuracy in 64 s, on the project's 2-core AMD EPYC"
    assert PRESETS["tutorial"].measured_words == "0.667 test accuracy in 18.5 min, on the project's 2-core AMD EPYC"
    record = "0.8465 test accuracy in 574 s, in bfloat16, on the project's 2-core AMD EPYC"
    assert PRESETS["record"].measured_words == record + " (seeds 0–2: 0.8445, 0.8502, 0.8589)"
    assert PRESETS["record"].seed_spread_points == pytest.approx(1.44) and PRESETS["quick"].seed_spread_points is None


def _ablation_table() -> dict[str, dict[str, str]]:
    """The README's ablation table, its rows keyed by their flags (shown in backticks)."""
    rows = _readme_table("### What each of `record`'s techniques is worth")
    return {row["flags"].strip("`"): row | {"flags": row["flags"].strip("`")} for row in rows}


def test_the_readmes_ablation_table_shows_each_row_as_the_preset_records_it():
    table = _ablation_table()
    assert len(table) == len(ablation_rows("record"))
    for row in ablation_rows("record"):
        shown = table.get(row["flags"])
        assert shown, f"no row for {row['flags']!r} in the README's ablation table"
        assert shown == row, row["flags"]
