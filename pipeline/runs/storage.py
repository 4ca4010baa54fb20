"""The Dagster instance of `make run`: DAGSTER_HOME's, whose SQLite storage does not flush the disk for every event.

Dagster's SQLite event log opens a new connection for each event it stores and closes it after one commit. Closing
the last connection of a database in WAL mode checkpoints the WAL into the file and deletes it, so every event
costs about four flushes to disk (the WAL, the file, the directory, and the index database that mirrors asset and
check events): some 8,600 for one run of `refresh`, which took longer than the run's own work on a busy disk (the
241 events Dagster records as it creates the run alone took 15 s before the run started).

This storage is the same SQLite storage (the same files, schema and layout under DAGSTER_HOME, so a plain Dagster
reads them, and Dagster's migrations apply) with one change in the event log: each database file keeps an open
connection, set to `synchronous=NORMAL`, SQLite's advice for WAL mode. A commit then writes the WAL without
waiting for the disk; checkpoints happen as the WAL grows and when the process ends. What that trades: a power cut
or an operating-system crash (not a killed process) may lose the events of the last moments; the file is never
corrupted. The warehouse's data does not depend on it. It also remembers which tables the index database has:
Dagster looks that up on a new connection before storing each asset or check event (has_table).

The webserver follows a running run's events by watching the run's database file for changes, which the
checkpoint after every event used to cause; the storage touches the file after each write to it so that `make ui`
still shows a run's events as they happen. At most MAX_OPEN_SHARDS run files are kept open per process (the
least recently used is closed), and a run's file is closed before its events are deleted (housekeeping).

Only the process of `make run` uses it (`history_instance`); everything else in dagster.yaml applies unchanged, and
the webserver and daemon keep Dagster's default storage over the same files. A dagster.yaml that configures its
own storage (Postgres, say) is used as it is.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator

import dagster as dg
import sqlalchemy as db
import yaml
from dagster._config import StringSource
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

#: Run databases kept open at once by one process, besides the index (a run writes its own, a webserver reads many).
MAX_OPEN_SHARDS = 8


class EventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one open connection per database file and synchronous=NORMAL (see the module)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()  # tables of the index database known to exist (has_table)
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> EventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            # pool_size 1 is the kept connection; Dagster's schema check on a new file opens a second one briefly
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _synchronous_normal)
            self._engines[shard] = engine
            runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for stale in runs[: max(0, len(runs) - MAX_OPEN_SHARDS)]:
                self._engines.pop(stale).dispose()
            return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as Dagster's: one thread at a time per storage, the schema checked on a file's first use
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                before = conn.connection.dbapi_connection.total_changes
                with conn.begin():
                    yield conn
                wrote = conn.connection.dbapi_connection.total_changes != before
            if wrote and shard != INDEX_SHARD_NAME:
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self.path_for_shard(shard))  # the webserver's watcher reacts to the file changing

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before it stores each asset or check event and each slot claim, opening a new engine and
        # connection on the index database and reading its schema every time (about 770 times in a run of
        # refresh). Migrations only add tables, so one that exists is remembered until wipe().
        if table_name in self._tables:
            return True
        exists = super().has_table(table_name)
        if exists:
            self._tables.add(table_name)
        return exists

    def _release(self, shard: str) -> None:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
        if engine is not None:
            engine.dispose()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self._release(run_id)  # housekeeping deletes the emptied file next

    def wipe(self) -> None:
        with self._engines_lock:
            engines = [self._engines.pop(s) for s in list(self._engines) if s != INDEX_SHARD_NAME]
        for engine in engines:
            engine.dispose()
        self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()  # the last connection to close checkpoints the WAL into the file


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("pragma synchronous=NORMAL")


class Storage(DagsterSqliteStorage):
    """Dagster's SQLite storage rooted at `base_dir` (DAGSTER_HOME), with the event log above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = EventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> Storage:
        return cls.from_local(inst_data=inst_data, **config_value)


#: How InstanceRef names Dagster's default storage, the one this module replaces.
DEFAULT_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")


def history_instance() -> dg.DagsterInstance:
    """The persistent instance of DAGSTER_HOME, as DagsterInstance.get() loads it, with Storage in place of
    Dagster's default SQLite storage (the same files)."""
    home = os.path.expanduser(os.environ.get("DAGSTER_HOME", ""))
    if not (os.path.isabs(home) and os.path.isdir(home)):
        return dg.DagsterInstance.get()  # which raises Dagster's own message about DAGSTER_HOME
    ref = InstanceRef.from_dir(home)
    data = ref.storage_data
    if data is not None and (data.module_name, data.class_name) == DEFAULT_STORAGE:
        base_dir = yaml.safe_load(data.config_yaml)["base_dir"]
        ref = ref._replace(
            storage_data=ConfigurableClassData(__name__, Storage.__name__, yaml.dump({"base_dir": base_dir}))
        )
    return dg.DagsterInstance.from_ref(ref)
