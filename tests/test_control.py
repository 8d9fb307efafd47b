"""The control file (cifar/runs/control.py): what the launcher writes, read back; a file
damaged or written by hand read as far as it makes sense, each problem said."""

from __future__ import annotations

import json

from cifar.runs.control import KEPT_REQUESTS, add_request, rate_text, read_requests


def test_requests_are_read_back_as_written_with_ids_counting_up(tmp_path):
    first = add_request(tmp_path, "pause", None, "Emma")
    second = add_request(tmp_path, "lr", 0.0001, "Emma")
    third = add_request(tmp_path, "epochs", 12, "Teacher")
    requests, problems = read_requests(tmp_path / "control.json")
    assert requests == [first, second, third] and not problems
    assert first.id < second.id < third.id
    assert [request.describe() for request in requests] == ["pause", "learning rate 0.0001", "end at epoch 12"]
    written = json.loads((tmp_path / "control.json").read_text())["requests"]
    assert "value" not in written[0] and written[2]["value"] == 12  # a whole number stays one


def test_a_file_overwritten_by_hand_cannot_set_the_ids_back(tmp_path):
    before = add_request(tmp_path, "pause", None, "Emma")
    (tmp_path / "control.json").write_text('{"requests": []}')
    after = add_request(tmp_path, "resume", None, "Emma")
    assert after.id > before.id  # the trainer, which carried out `before`, still takes `after`


def test_the_file_keeps_only_the_latest_requests(tmp_path):
    for index in range(KEPT_REQUESTS + 5):
        add_request(tmp_path, "lr", 0.001 + index / 1e6, "Emma")
    requests, _ = read_requests(tmp_path / "control.json")
    assert len(requests) == KEPT_REQUESTS and requests[-1].value == 0.001 + (KEPT_REQUESTS + 4) / 1e6


def test_each_bad_request_is_left_out_and_said_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "control.json"
    path.write_text(
        json.dumps(
            {
                "requests": [
                    {"id": 1, "action": "pause"},
                    "resume",
                    {"id": 1, "action": "resume"},
                    {"id": 3, "action": "lr", "value": "fast"},
                    {"id": 4, "action": "epochs", "value": 2.5},
                    {"id": True, "action": "resume"},
                    {"id": 7, "action": "format the disk"},
                    {"id": 8, "action": "resume", "who": "x" * 500},
                ]
            }
        )
    )
    requests, problems = read_requests(path)
    assert [(request.id, request.action) for request in requests] == [(1, "pause"), (8, "resume")]
    assert len(requests[1].who) == 80
    assert len(problems) == 6 and all(problem.startswith("a request was ignored: ") for problem in problems)
    assert any("'format the disk' is not something a training can be asked" in problem for problem in problems)


def test_a_missing_file_holds_no_requests_and_a_huge_one_is_not_read(tmp_path):
    assert read_requests(tmp_path / "control.json") == ([], [])
    (tmp_path / "control.json").write_bytes(b" " * 2_000_000)
    requests, problems = read_requests(tmp_path / "control.json")
    assert requests == [] and "is not one this app wrote" in problems[0]


def test_a_rate_reads_as_a_decimal_with_three_significant_digits():
    assert [rate_text(rate) for rate in (0.001, 5e-5, 0.00123456, 1.0, 0.3)] == [
        "0.001",
        "0.00005",
        "0.00123",
        "1",
        "0.3",
    ]
