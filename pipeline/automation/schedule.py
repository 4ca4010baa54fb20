"""The daily schedule: a run of `refresh` every day in the reporting time zone, as a fallback to the landing sensor.

The sensor starts a run when extracts change; the schedule also catches what it does not see: a change of
configuration (targets, sources, the funnel registry), content put back to a state that already ran once, and
the passing of time itself (the open month's pacing). Its cron (FUNNEL_SCHEDULE_CRON) is read in the reporting
time zone (FUNNEL_REPORTING_TZ), so "0 7 * * *" is 07:00 where the months are cut. A tick is skipped when a run of
`refresh` is already queued or in progress: that run reads the same folder, and a second would only wait behind it.
"""

import dagster as dg

from pipeline.runs.statuses import UNFINISHED


def daily_schedule(cron: str, timezone: str) -> dg.ScheduleDefinition:
    """The schedule of `refresh` at `cron` in `timezone`."""

    @dg.schedule(
        name="daily_refresh",
        job_name="refresh",
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Runs refresh at {cron} ({timezone}), unless a run of refresh is already queued or in progress "
            "(pipeline/automation/schedule.py)."
        ),
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        unfinished = context.instance.get_run_records(
            filters=dg.RunsFilter(job_name="refresh", statuses=list(UNFINISHED)), limit=1
        )
        if unfinished:
            run = unfinished[0].dagster_run
            return dg.SkipReason(f"run {run.run_id} of refresh is {run.status.value}; not starting another")
        return dg.RunRequest()

    return daily_refresh
