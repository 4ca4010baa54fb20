"""The alert ledger on its own: claims across threads and processes, a sender killed mid-send, channels that
fail one at a time, the last retry, no channel at all, a missing warehouse folder, templates that would break an
alert only when it is due, and `python -m pipeline.alerts.ledger`, which lists what was not delivered."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pipeline.alerts.delivery import deliver_due
from pipeline.alerts.detection import raise_run_failure
from pipeline.alerts.ledger import CLAIM_SECONDS, INTERRUPTED, Ledger, LedgerError, MissingFolder, main
from pipeline.alerts.settings import AlertSettings
from pipeline.config.files import ConfigError
from pipeline.config.settings import PROJECT_ROOT, read_environment
from pipeline.serving.paths import alert_ledger_file
from tests.alert_receiver import Receiver


def _settings(*urls: str, max_attempts: int = 10, retry_seconds: float = 0.0) -> AlertSettings:
    return AlertSettings(
        urls=list(urls),
        language="en",
        templates_dir=PROJECT_ROOT / "alerts",
        months=2,
        retry_seconds=retry_seconds,
        max_attempts=max_attempts,
    )


def _raise(ledger: Ledger, n: int, now: float) -> list[str]:
    templates = _settings().templates()
    return [raise_run_failure(ledger, templates, f"run-{i:02d}", "refresh", "boom", now).alert_id for i in range(n)]


def _by_id(ledger: Ledger) -> dict:
    return {a.alert_id: a for a in ledger.alerts()}


def test_evaluators_at_once_send_each_alert_once(tmp_path):
    receiver = Receiver(delay=0.05)  # a slow channel widens the window two senders could share
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ids = _raise(ledger, 12, time.time())
    threads = [
        threading.Thread(target=deliver_due, args=(Ledger(tmp_path / "ledger.sqlite"), _settings(receiver.url)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(receiver.ids()) == sorted(ids)
    assert {a.delivery_status for a in ledger.alerts()} == {"delivered"}
    assert {a.attempts for a in ledger.alerts()} == {1}


def test_a_sender_killed_mid_send_is_taken_over_after_the_claim_expires_with_the_same_id(tmp_path):
    """The one duplicate the ledger cannot rule out: the channel got the message, the sender died before recording
    it. The alert is sent again after CLAIM_SECONDS, with the same id, so the receiver can drop it."""
    receiver = Receiver(delay=3)  # answers only after the sender is dead
    path = tmp_path / "ledger.sqlite"
    (alert_id,) = _raise(Ledger(path), 1, time.time())
    sender = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                from pipeline.alerts.delivery import deliver_due
                from pipeline.alerts.ledger import Ledger
                from pipeline.alerts.settings import AlertSettings
                from pipeline.config.settings import PROJECT_ROOT
                deliver_due(Ledger({str(path)!r}), AlertSettings([{receiver.url!r}], "en", PROJECT_ROOT / "alerts", 2, 0.0))
            """),
        ],
        cwd=PROJECT_ROOT,
    )
    deadline = time.monotonic() + 30
    while receiver.received == 0 and time.monotonic() < deadline:  # the message reached the channel
        time.sleep(0.05)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(timeout=10)
    receiver.delay = 0

    claimed = _by_id(Ledger(path))[alert_id]
    assert claimed.delivery_status == "sending" and claimed.attempts == 1
    assert deliver_due(Ledger(path), _settings(receiver.url)) == []  # the claim still holds: nobody sends
    later = time.time() + CLAIM_SECONDS + 1
    (taken_over,) = deliver_due(Ledger(path), _settings(receiver.url), now=later)
    assert taken_over.delivery_status == "delivered" and taken_over.attempts == 2
    deadline = time.monotonic() + 10
    while len(receiver.accepted) < 2 and time.monotonic() < deadline:  # the dead sender's request, answered late
        time.sleep(0.1)
    assert receiver.ids() == [alert_id, alert_id]


def test_an_expired_claim_on_the_last_attempt_is_failed(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    now = time.time()
    (alert_id,) = _raise(ledger, 1, now)
    assert ledger.claim("dead-process", now, max_attempts=1).alert_id == alert_id
    assert ledger.claim("other", now + CLAIM_SECONDS + 1, max_attempts=1) is None
    alert = _by_id(ledger)[alert_id]
    assert (alert.delivery_status, alert.attempts, alert.last_error) == ("failed", 1, INTERRUPTED)


def test_a_channel_that_accepted_is_not_sent_the_retry_of_one_that_did_not(tmp_path):
    working, broken = Receiver(), Receiver()
    broken.down()
    ledger = Ledger(tmp_path / "ledger.sqlite")
    (alert_id,) = _raise(ledger, 1, time.time())
    settings = _settings(working.url, broken.url)
    (first,) = deliver_due(ledger, settings)
    assert first.delivery_status == "pending" and f"127.0.0.1:{broken.port}" in first.last_error
    broken.up()
    (second,) = deliver_due(ledger, settings)
    assert second.delivery_status == "delivered" and second.attempts == 2
    assert working.ids() == [alert_id] and broken.ids() == [alert_id]


def test_back_off_doubles_and_the_last_attempt_fails_the_alert(tmp_path):
    receiver = Receiver(fail_first=10**6)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    now = 1_000_000.0
    (alert_id,) = _raise(ledger, 1, now)
    settings = _settings(receiver.url, max_attempts=3, retry_seconds=60)
    assert deliver_due(ledger, settings, now=now)[0].next_attempt_at == now + 60
    assert deliver_due(ledger, settings, now=now + 59) == []  # not due yet
    assert deliver_due(ledger, settings, now=now + 60)[0].next_attempt_at == now + 60 + 120
    (last,) = deliver_due(ledger, settings, now=now + 180)
    assert (last.delivery_status, last.attempts) == ("failed", 3) and "500" in last.last_error
    assert deliver_due(ledger, settings, now=now + 10**6) == []
    assert receiver.requests == 3


def test_without_a_channel_alerts_wait_unattempted_and_are_sent_once_a_channel_is_set(tmp_path):
    """A process without FUNNEL_ALERT_URLS (a sensor preview in a bare shell, a developer's `make ui`) must leave
    the alerts to the daemon that has the channels."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ids = _raise(ledger, 2, time.time())
    for _ in range(2):
        assert deliver_due(ledger, _settings()) == []
    assert {(a.delivery_status, a.attempts, a.last_error) for a in ledger.alerts()} == {("pending", 0, None)}
    assert ledger.waiting() == len(ids)

    receiver = Receiver()
    assert sorted(a.alert_id for a in deliver_due(ledger, _settings(receiver.url))) == sorted(ids)
    assert deliver_due(ledger, _settings(receiver.url)) == []
    assert sorted(receiver.ids()) == sorted(ids)
    assert {(a.delivery_status, a.attempts) for a in ledger.alerts()} == {("delivered", 1)}
    assert ledger.waiting() == 0


def test_a_run_failure_is_raised_once_whoever_reports_it(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    _raise(ledger, 1, time.time())
    _raise(Ledger(tmp_path / "ledger.sqlite"), 1, time.time() + 5)
    assert len(ledger.alerts()) == 1


def test_the_ledger_never_creates_a_missing_warehouse_folder(tmp_path):
    folder = tmp_path / "wharehouse"  # a typo in FUNNEL_WAREHOUSE
    with pytest.raises(MissingFolder, match=f"the warehouse folder {folder} does not exist"):
        Ledger(folder / "alert_ledger.sqlite")
    assert not folder.exists()

    folder.mkdir()
    ledger = Ledger(folder / "alert_ledger.sqlite")
    _raise(ledger, 1, time.time())
    folder.joinpath("alert_ledger.sqlite").unlink()
    folder.rmdir()  # removed while in use
    with pytest.raises(MissingFolder):
        ledger.waiting()
    assert not folder.exists()


def test_a_ledger_that_cannot_be_created_names_its_file(tmp_path):
    (tmp_path / "warehouse").write_text("a file where the warehouse folder should be")
    with pytest.raises(LedgerError, match=f"cannot open the alert ledger {tmp_path / 'warehouse' / 'ledger.sqlite'}"):
        Ledger(tmp_path / "warehouse" / "ledger.sqlite")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda t: t.replace("    Alert {alert_id}.\ndata_stale", "data_stale"),
            "recovered.body: must contain {alert_id}",
        ),
        (lambda t: t.replace("{entity} ({system})", "{entitty} ({system})"), "data_stale: no field {entitty}"),
        (lambda t: t.split("data_stale:")[0] + "run_failure:" + t.split("run_failure:")[1], "data_stale: needs"),
    ],
)
def test_a_template_that_would_break_an_alert_stops_the_settings(tmp_path, edit, problem):
    text = (PROJECT_ROOT / "alerts" / "en.yml").read_text(encoding="utf-8")
    (tmp_path / "en.yml").write_text(edit(text), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_environment({"FUNNEL_ALERT_TEMPLATES": str(tmp_path)})
    assert problem in str(error.value) and str(tmp_path / "en.yml") in str(error.value)


def test_the_command_lists_the_alerts_not_delivered(tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "warehouse" / "themodel.duckdb"
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    assert main() == 2  # the folder is missing: FUNNEL_WAREHOUSE is wrong
    assert f"{warehouse.parent} does not exist" in capsys.readouterr().err and not warehouse.parent.exists()
    warehouse.parent.mkdir()
    assert main() == 0  # nothing raised yet; reading does not create the ledger
    assert "no alert raised yet" in capsys.readouterr().out and not alert_ledger_file(warehouse).exists()

    ledger = Ledger(alert_ledger_file(warehouse))
    now = time.time()
    refused = _raise(ledger, 2, now)  # the oldest two: refused on their one attempt, so given up
    delivered = raise_run_failure(ledger, _settings().templates(), "run-ok", "refresh", "boom", now + 1).alert_id
    deliver_due(ledger, _settings(Receiver(fail_first=2).url, max_attempts=1), now=now + 1)
    waiting = raise_run_failure(ledger, _settings().templates(), "run-new", "refresh", "boom", now + 2).alert_id
    expected = {a: ("failed", "1") for a in refused} | {waiting: ("pending", "0")}

    listing = subprocess.run(
        [sys.executable, "-m", "pipeline.alerts.ledger"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "FUNNEL_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    header, *rows, summary = listing.stdout.splitlines()
    assert header.split() == ["raised", "alert_id", "status", "attempts", "last_error"]
    listed = {row.split()[2]: (row.split()[3], row.split()[4]) for row in rows}  # raised is a date and a time
    assert listed == expected and delivered not in listing.stdout
    assert all("500" in row for row in rows if "failed" in row)
    assert summary == f"3 of 4 alert(s) in {alert_ledger_file(warehouse)} not delivered: 2 failed, 1 pending"
