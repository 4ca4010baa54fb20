"""The states of a Dagster run, grouped as this project asks about them, each group named once.

Dagster's own groupings are private (dagster._core.storage.dagster_run). The daily schedule, crash recovery,
backups, housekeeping and the alert sensor each ask a different question about a run's state; here each question
has its name, so the answers cannot drift apart.
"""

import dagster as dg

S = dg.DagsterRunStatus

#: Done: nothing of the run changes any more (housekeeping may delete it).
FINISHED = frozenset({S.SUCCESS, S.FAILURE, S.CANCELED})
#: Not done yet: queued, starting, running or stopping (the daily schedule skips a tick while one exists).
UNFINISHED = frozenset({S.QUEUED, S.NOT_STARTED, S.STARTING, S.STARTED, S.CANCELING})
#: Unfinished and past the run queue: a process was given to it, so a process that died leaves it behind
#: (crash recovery looks at these).
PAST_THE_QUEUE = UNFINISHED - {S.QUEUED}
#: Executing: its process may be writing the warehouse or Dagster's storage now (a backup refuses).
EXECUTING = frozenset({S.STARTING, S.STARTED, S.CANCELING})
#: Requested and not executing yet (goal_alerts requests no second copy of the ledger while one waits).
WAITING_TO_START = frozenset({S.QUEUED, S.NOT_STARTED, S.STARTING})
