"""The FUNNEL_ALERT_* settings: where alerts go, in which language, how many months, how often and how long to retry.

A module of its own because every part of alerting reads a piece of it: the statuses (months), the messages
(language, templates), the delivery (channels, back-off, attempts); the sensors read it on each evaluation.
"""

from dataclasses import dataclass
from pathlib import Path

from pipeline.alerts.messages import load_templates
from pipeline.config.settings import read_environment


@dataclass(frozen=True)
class AlertSettings:
    urls: list[str]
    language: str
    templates_dir: Path
    months: int
    retry_seconds: float
    max_attempts: int = 10

    @classmethod
    def from_env(cls) -> "AlertSettings":
        """The FUNNEL_ALERT_* variables, validated with the rest of the environment (pipeline/config/settings.py)."""
        env = read_environment()
        return cls(
            urls=list(env.alert_urls),
            language=env.alert_language,
            templates_dir=Path(env.alert_templates),
            months=env.alert_months,
            retry_seconds=env.alert_retry_seconds,
            max_attempts=env.alert_max_attempts,
        )

    def templates(self) -> dict:
        return load_templates(self.templates_dir / f"{self.language}.yml")
