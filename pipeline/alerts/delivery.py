"""Delivery of one alert with Apprise to the URLs in FUNNEL_ALERT_URLS.

Slack, Teams, e-mail, PagerDuty, JSON webhooks...; the secrets stay in the environment. A failed delivery
is not an error: it schedules the next attempt with exponential back-off.
"""

import apprise

from pipeline.alerts.detection import Alert


def deliver(alert: Alert, urls: list[str], retry_seconds: float, now: float) -> Alert:
    """Send one alert to every channel; on failure schedule the next attempt with exponential back-off."""
    if not urls:
        alert.delivery_status = "no_channel"
        return alert
    channels = apprise.Apprise()
    for url in urls:
        channels.add(url)
    alert.attempts += 1
    if channels.notify(title=alert.title, body=alert.body):
        alert.delivery_status, alert.delivered_at, alert.last_error = "delivered", now, None
    else:
        alert.last_error = "a channel did not accept the notification"
        alert.next_attempt_at = now + retry_seconds * 2 ** (alert.attempts - 1)
    return alert
