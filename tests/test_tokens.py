"""cifar.classroom.tokens: the signing key, made once and whole; tokens that hold only with
their signature; anything else reads as no token, never as an error."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from cifar.classroom import tokens
from cifar.runs.layout import ClassFiles


def test_the_key_is_made_once_whole_and_readable_by_the_server_alone(runs_dir):
    assert tokens.signing_key(runs_dir) is None  # reading makes nothing
    assert not ClassFiles(runs_dir).folder.exists()
    key = tokens.signing_key(runs_dir, create=True)
    path = ClassFiles(runs_dir).secret
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert tokens.signing_key(runs_dir, create=True) == key == tokens.signing_key(runs_dir)


def test_keys_made_by_many_threads_at_once_are_one_key(runs_dir):
    found: list[bytes] = []
    barrier = threading.Barrier(8)

    def make() -> None:
        barrier.wait()
        found.append(tokens.signing_key(runs_dir, create=True))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len(set(found)) == 1 and len(found[0]) == 32


def test_a_damaged_key_file_is_no_key(runs_dir):
    ClassFiles(runs_dir).folder.mkdir(parents=True)
    ClassFiles(runs_dir).secret.write_text("not hex")
    assert tokens.signing_key(runs_dir) is None


KEY = bytes(range(32))


def test_a_token_carries_its_fields_under_its_signature():
    token = tokens.sign(KEY, {"n": "Ann", "t": 1.5})
    assert token.isascii() and "=" not in token
    assert tokens.read_token(token, KEY) == {"n": "Ann", "t": 1.5}
    assert tokens.read_token(token, bytes(32)) is None  # another server's key


def _with_fields(token: str, **changes) -> str:
    body, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    new_body = base64.urlsafe_b64encode(json.dumps({**fields, **changes}).encode()).decode().rstrip("=")
    return f"{new_body}.{signature}"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "x",
        "a.b",
        "a.b.c",
        "€.€",
        "a.€",
        "\x00.\x00",
        "x" * 5000,
        42,
        ["a", "b"],
    ],
)
def test_anything_but_a_token_reads_as_none_and_never_raises(bad):
    assert tokens.read_token(bad, KEY) is None


def test_an_altered_token_reads_as_none():
    token = tokens.sign(KEY, {"n": "Ann", "r": "student"})
    assert tokens.read_token(_with_fields(token, r="teacher"), KEY) is None
    assert tokens.read_token(_with_fields(token, n="Bob"), KEY) is None
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert tokens.read_token(flipped, KEY) is None
    assert tokens.read_token(token + ".", KEY) is None
    assert tokens.read_token(token, None) is None


def test_the_class_id_is_keyed_and_tells_codes_and_roles_apart():
    assert tokens.class_id(KEY, "student", "owl42") != tokens.class_id(KEY, "student", "owl43")
    assert tokens.class_id(KEY, "student", "x") != tokens.class_id(KEY, "teacher", "x")
    assert tokens.class_id(KEY, "student", "x") != tokens.class_id(bytes(32), "student", "x")
