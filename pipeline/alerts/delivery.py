"""Delivery of the alerts the ledger holds, with Apprise, to the URLs in FUNNEL_ALERT_URLS.

Slack, Teams, e-mail, PagerDuty, JSON webhooks...; the secrets stay in the environment, and only a masked URL
(Apprise's privacy form) is ever written to the ledger. Each alert is claimed in the ledger before it is sent,
so two evaluators never send it both. Each channel is tried on its own and remembered once it accepts, so a
retry goes only to the channels that have not: one channel down does not make the others receive it twice. A
failed attempt schedules the next after FUNNEL_ALERT_RETRY_SECONDS x 2^(attempts - 1); after
FUNNEL_ALERT_MAX_ATTEMPTS the alert is `failed`.

With no URL set, nothing is attempted: the alerts stay `pending`, no attempt counted, until an evaluation that has
a channel delivers them. A process started without the environment file (`dagster sensor preview` in a shell, a
developer's `make ui` on the same warehouse) must not use up or drop the alerts the daemon is there to send.
"""

import hashlib
import logging
import time
import uuid

import apprise

from pipeline.alerts.ledger import Alert, Ledger
from pipeline.alerts.settings import AlertSettings

#: How long one evaluation keeps sending before it leaves the rest for the next one (a sensor evaluation must end
#: well within Dagster's 60 s limit); what is left stays due and is claimed by the next evaluation.
BUDGET_SECONDS = 20.0


def fingerprint(url: str) -> str:
    """A channel's name in the ledger: a hash of its URL, which may hold a secret."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _send(alert: Alert, url: str) -> str | None:
    """Send `alert` to one channel; None when it accepted, else why not (without the URL's secrets)."""
    channel = apprise.Apprise()
    if not channel.add(url):
        return f"a URL in FUNNEL_ALERT_URLS ({url.split(':', 1)[0]}://…) is not one Apprise understands"
    masked = channel[0].url(privacy=True)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        accepted = channel.notify(title=alert.title, body=alert.body)
    if accepted:
        return None
    reasons = [line for line in log.getvalue().splitlines() if line.strip()]
    return f"{masked}: {reasons[-1] if reasons else 'did not accept the notification'}"


def attempt(alert: Alert, settings: AlertSettings, now: float) -> Alert:
    """One delivery attempt of a claimed alert, to each channel that has not accepted it yet; sets the outcome."""
    errors = []
    for url in settings.urls:
        if fingerprint(url) in alert.delivered_channels:
            continue
        error = _send(alert, url)
        if error is None:
            alert.delivered_channels.append(fingerprint(url))
        else:
            errors.append(error)
    if not errors:
        alert.delivery_status, alert.delivered_at, alert.last_error = "delivered", now, None
    elif alert.attempts >= settings.max_attempts:
        alert.delivery_status, alert.last_error = "failed", "; ".join(errors)
    else:
        alert.delivery_status, alert.last_error = "pending", "; ".join(errors)
        alert.next_attempt_at = now + settings.retry_seconds * 2 ** (alert.attempts - 1)
    return alert


def deliver_due(ledger: Ledger, settings: AlertSettings, now: float | None = None) -> list[Alert]:
    """Claim and send every alert that is due, each once, for up to BUDGET_SECONDS; the outcomes recorded.

    `now` fixes the clock the ledger schedules by (tests move it); by default it is the wall clock. Without a
    channel nothing is claimed: every alert stays as it is."""
    if not settings.urls:
        return []
    owner = uuid.uuid4().hex
    started = time.monotonic()
    done: list[Alert] = []
    tried: list[str] = []  # each alert is attempted at most once per evaluation, whatever the back-off
    while time.monotonic() - started < BUDGET_SECONDS:
        at = time.time() if now is None else now
        alert = ledger.claim(owner, at, settings.max_attempts, skip=tried)
        if alert is None:
            break
        tried.append(alert.alert_id)
        attempt(alert, settings, at)
        if ledger.finish(alert):
            done.append(alert)
    return done
