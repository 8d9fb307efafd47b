"""A class that signs in, in a real browser against a real server: two people through `st.login`
and a real OpenID Connect provider on the loopback (oidc-provider-mock), each owning their run;
thirty people with the class code launching in a burst; a name that a second browser cannot take.
Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import answers, free_port, running_app
from browser_fixtures import chromium_fixture, new_session, settle, shoot  # noqa: F401 (fixture)
from helpers import run_cli, wait_for_end, wait_until
from playwright.sync_api import expect

from cifar.classroom.signin import ClassSettings, person_from_account
from cifar.errors import NotAllowed
from cifar.launch import launcher
from cifar.runs.audit import read_audit
from cifar.runs.owner import administrator, fold_name
from cifar.runs.run import list_runs

pytestmark = pytest.mark.slow  # real browsers against a real server

ACTION_MS = 180_000  # thirty sessions on two cores: a click may wait its turn for minutes
LESSON = "train?preset=quick&epochs=200"
USERS = {
    "ann": {"sub": "ann", "email": "ann@school.org", "name": "Ann Lee"},
    "bob": {"sub": "bob", "email": "bob@school.org", "name": "Bob Ray"},
    "teach": {"sub": "teach", "email": "t@school.org", "name": "Ms Teal"},
}


def new_person(browser):
    return new_session(browser, ACTION_MS)


@pytest.fixture
def provider(tmp_path) -> Iterator[str]:
    """A real OpenID Connect provider on the loopback, knowing USERS; its address."""
    port = free_port()
    claims = [arg for user in USERS.values() for arg in ("--user-claims", json.dumps(user))]
    with open(tmp_path / "provider.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), *claims], stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/.well-known/openid-configuration"), 60, "the provider to answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def stopped_at_the_end(runs_dir) -> Iterator[None]:
    """Every training a test launched is stopped after it, whatever happened."""
    yield
    for run in list_runs(runs_dir):
        if launcher.status(run).live:
            launcher.stop(run, person=administrator())
    for run in list_runs(runs_dir):
        wait_for_end(run)


def _secrets_home(home: Path, app_port: int, provider: str) -> Path:
    """A home folder whose ~/.streamlit/secrets.toml has the `[auth]` section for `provider`."""
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{app_port}/oauth2callback"\n'
        'cookie_secret = "for-the-tests-only-0123456789abcdef"\n'
        'client_id = "cifar-lab"\n'
        'client_secret = "for-the-tests-only"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    return home


def _sign_in_with_account(page, url: str, user: str) -> None:
    page.goto(f"{url}/{LESSON}")
    # The page keeps its address in a cookie for the way back from the provider; a person takes
    # longer than its script to find the button, a test waits for the cookie.
    wait_until(lambda: "cifar_return" in {cookie["name"] for cookie in page.context.cookies()}, 60, "the cookie")
    page.get_by_role("button", name="Sign in with your school account").click()
    page.get_by_role("button", name=user, exact=True).click()  # the provider's page: this user
    # Back where they were; the run picker may add the run it shows to the address.
    expect(page).to_have_url(re.compile(re.escape(f"{url}/{LESSON}") + r"(&run=[\w-]+)?"), timeout=ACTION_MS)
    page.get_by_text("Signed in as").wait_for()


def _launch(page, runs_dir: Path, count: int) -> None:
    settle(page)
    page.get_by_role("button", name="Launch training").click()
    wait_until(lambda: len(list_runs(runs_dir)) == count, what=f"run {count}")


def test_two_accounts_own_their_runs_and_a_listed_teacher_holds_the_keys(
    chromium, provider, batches_dir, runs_dir, tmp_path, stopped_at_the_end
):
    port = free_port()
    home = _secrets_home(tmp_path / "home", port, provider)
    env = {"HOME": str(home), "CIFAR10_DIR": str(batches_dir), "CIFAR_RUNS_DIR": str(runs_dir)}
    with running_app(tmp_path / "app.log", port=port, CIFAR_TEACHERS="t@school.org", **env) as served:
        url = served.replace("127.0.0.1", "localhost")  # providers allow plain http for localhost only
        ann, bob, teacher = (new_person(chromium) for _ in range(3))
        _sign_in_with_account(ann, url, "ann")
        expect(ann.get_by_text("Signed in as Ann Lee")).to_be_visible()
        _launch(ann, runs_dir, 1)
        _sign_in_with_account(bob, url, "bob")
        _launch(bob, runs_dir, 2)
        by_owner = {run.written_status().owner: run for run in list_runs(runs_dir)}
        assert set(by_owner) == {"account:ann@school.org", "account:bob@school.org"}
        anns = by_owner["account:ann@school.org"]
        assert anns.written_status().who == "Ann Lee"

        bob.goto(f"{url}/train?run={anns.id}")  # Bob watches Ann's run: no Stop for him
        bob.get_by_role("heading", name=f"Run {anns.id}").wait_for()
        settle(bob)
        assert bob.get_by_role("button", name="Stop training").count() == 0
        bob.goto(f"{url}/runs?run={anns.id}")
        expect(bob.get_by_role("button", name="Delete…")).to_be_disabled()
        shoot(bob, "signin-classmate-runs")
        bobs = by_owner["account:bob@school.org"]
        ann.goto(f"{url}/runs?run={bobs.id}")  # and the other way round
        expect(ann.get_by_role("button", name="Delete…")).to_be_disabled()
        as_bob = person_from_account(ClassSettings(accounts=True), "bob@school.org", "Bob Ray")
        with pytest.raises(NotAllowed, match="is Ann Lee's"):  # the launcher refuses, whatever a page shows
            launcher.stop(anns, person=as_bob)

        _sign_in_with_account(teacher, url, "teach")
        expect(teacher.get_by_text("Signed in as Ms Teal (teacher)")).to_be_visible()
        teacher.goto(f"{url}/train?run={anns.id}")
        teacher.get_by_role("button", name="Stop training").click()
        wait_for_end(anns)
        teacher.goto(f"{url}/runs?run={anns.id}")
        teacher.get_by_role("button", name="Delete…").click()
        teacher.get_by_role("button", name="Yes, delete it").click()
        wait_until(lambda: not anns.path.exists(), what="Ann's run to be deleted")
        teacher.goto(f"{url}/board")
        teacher.get_by_text("Teacher's keys").wait_for()
        shoot(teacher, "signin-teacher-keys")

    done = [(entry.who, entry.action, entry.outcome) for entry in read_audit(runs_dir).entries]
    assert ("Ann Lee", "sign in", "done") in done and ("Ann Lee", "launch", "done") in done
    assert ("Ms Teal", "stop", "done") in done and ("Ms Teal", "delete", "done") in done
    printed = json.loads(run_cli("audit", "--runs-dir", str(runs_dir), "--json").stdout)
    assert [entry["action"] for entry in printed] == [entry.action for entry in read_audit(runs_dir).entries]


NAMES = [f"Student {number:02d}" for number in range(30)]


def _sign_in_with_code(page, url: str, name: str) -> None:
    page.goto(f"{url}/{LESSON}")
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Class code").fill("owl42")
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_thirty_people_sign_in_with_the_code_and_launch_in_a_burst(
    chromium, batches_dir, runs_dir, tmp_path, stopped_at_the_end
):
    env = {"CIFAR10_DIR": str(batches_dir), "CIFAR_RUNS_DIR": str(runs_dir), "CIFAR_CLASS_CODE": "owl42"}
    with running_app(tmp_path / "app.log", CIFAR_TEACHER_PASSWORD="sesame", **env) as url:
        pages = [new_person(chromium) for _ in NAMES]
        for page, name in zip(pages, NAMES, strict=True):
            _sign_in_with_code(page, url, name)
        for page, name in zip(pages, NAMES, strict=True):
            page.get_by_text(f"Signed in as {name}").wait_for()
        for page in pages:
            settle(page)
        for page in pages:  # every Launch pressed before any is waited on
            page.get_by_role("button", name="Launch training").click()
        wait_until(lambda: len(list_runs(runs_dir)) == len(NAMES), ACTION_MS / 1000, "thirty runs")
        owners = sorted((run.written_status().who, run.written_status().owner) for run in list_runs(runs_dir))
        assert owners == [(name, f"name:{fold_name(name)}") for name in NAMES]

        late = new_person(chromium)  # another browser, the same name in other letters
        _sign_in_with_code(late, url, "STUDENT 07")
        late.get_by_text("Someone is signed in as “Student 07” already").wait_for()
        assert late.get_by_role("button", name="Launch training").count() == 0
        shoot(late, "signin-name-taken")
        pages[7].reload()  # the one who holds it stays signed in
        pages[7].get_by_text("Signed in as Student 07").wait_for()
