"""`make serve`: the production entry point, the Dagster webserver and the Dagster daemon started and stopped together.

`dagster dev` is for a developer's laptop; in production the webserver (the UI, http://FUNNEL_SERVE_HOST:PORT)
and the daemon (sensors, schedules and the run queue, without which nothing runs by itself) are two long-lived
processes. This supervisor starts both with the instance in DAGSTER_HOME and the code location of workspace.yaml,
and keeps them a pair: SIGINT or SIGTERM stops both; when either exits by itself the other is stopped too and the
exit code is non-zero, so a service manager (systemd, docs/operations.md) restarts the pair instead of leaving a
UI whose sensors silently stopped. Each child runs in its own process group, so a stop also reaches the code
servers and run workers they started.

    python -m pipeline.serve

Exits 0 after a requested stop, 1 when the webserver or the daemon ended by itself, 2 (before starting anything)
when a FUNNEL_ variable or configuration file is wrong, DAGSTER_HOME is not a folder or the port is taken.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.preflight import check_config
from pipeline.config.settings import PROJECT_ROOT, Settings, read_environment

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
#: How long the children get to stop after SIGTERM before they are killed.
GRACE_SECONDS = 30.0


def commands(host: str, port: int, workspace: Path = WORKSPACE) -> dict[str, list[str]]:
    """The webserver and the daemon, from the environment this Python runs in (the project's .venv)."""
    bin_dir = Path(sys.executable).parent
    return {
        "webserver": [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(port), "-w", str(workspace)],
        "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
    }


def _stop(children: dict[str, subprocess.Popen], grace_seconds: float) -> None:
    """SIGTERM to every child's process group, then SIGKILL to those still there after the grace period."""
    for child in children.values():
        with contextlib.suppress(ProcessLookupError):  # the group may outlive a child that has exited
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children.values():
        with contextlib.suppress(ProcessLookupError):  # what is left of the group: code servers, run workers
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def supervise(commands: dict[str, list[str]], env: dict[str, str], grace_seconds: float = GRACE_SECONDS) -> int:
    """Run every command until a signal asks to stop (0) or one of them exits (1); the others are then stopped."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, env=env, start_new_session=True)
            print(f"started {name} (pid {children[name].pid}): {' '.join(command)}", flush=True)
        while not stop.wait(0.5):
            ended = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                print(f"{name} exited with code {code}; stopping the others", file=sys.stderr, flush=True)
                return 1
        print("stopping", flush=True)
        return 0
    finally:
        _stop(children, grace_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the webserver binds
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def create_storage(home: Path) -> None:
    """Create the instance's SQLite storage in DAGSTER_HOME here, before the children start: a webserver and a daemon
    starting together on a new DAGSTER_HOME would both create it, and the slower one fails ("table alembic_version
    already exists"), which stops the pair."""
    import dagster as dg  # here: the checks before it stay fast

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)


def main() -> int:
    try:
        env_settings = read_environment()
        check_config(Settings.from_env())
    except ConfigError as exc:
        print(f"{exc}\nconfiguration error: nothing was started (docs/configuration.md)", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    if not home.is_dir():
        print(f"DAGSTER_HOME {home} is not a folder: nothing was started", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    host, port = env_settings.serve_host, env_settings.serve_port
    if _port_taken(host, port):
        print(
            f"{host}:{port} cannot be bound (in use, or not an address of this machine): nothing was started; "
            "set FUNNEL_SERVE_HOST / FUNNEL_SERVE_PORT",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    create_storage(home)
    print(
        f"Dagster UI on http://{host}:{port}, instance {home}; Ctrl-C or SIGTERM stops the webserver and daemon",
        flush=True,
    )
    return supervise(commands(host, port), {**os.environ, "DAGSTER_HOME": str(home)})


if __name__ == "__main__":
    sys.exit(main())
