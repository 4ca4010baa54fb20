"""`make serve`'s supervisor, stopped and crashed as an operator or a service manager would."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from pipeline.config.settings import PROJECT_ROOT

CHILD = "import os, time, subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
STUBBORN = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "


def _supervisor(children: dict[str, str], grace: float = 5) -> subprocess.Popen:
    """supervise() in its own process over Python children that each start a grandchild and sleep."""
    commands = {name: [sys.executable, "-c", code + "time.sleep(600)", name] for name, code in children.items()}
    script = f"import sys; from pipeline.serve import supervise; sys.exit(supervise({commands!r}, {{}}, {grace}))"
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _family(process: subprocess.Popen, count: int) -> list[psutil.Process]:
    """The supervisor's children and grandchildren, once all `count` of them have started."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        family = psutil.Process(process.pid).children(recursive=True)
        if len(family) == count:
            return family
        time.sleep(0.1)
    pytest.fail(f"expected {count} processes under the supervisor, found {len(family)}")


def _gone(processes: list[psutil.Process]) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=10)
    return not alive


def test_a_stop_signal_stops_every_process_and_exits_zero():
    for sig in (signal.SIGTERM, signal.SIGINT):
        supervisor = _supervisor({"webserver": CHILD, "daemon": CHILD})
        family = _family(supervisor, 4)
        supervisor.send_signal(sig)
        out, _ = supervisor.communicate(timeout=30)
        assert supervisor.returncode == 0 and "stopping" in out
        assert _gone(family)


def test_when_one_dies_the_other_is_stopped_and_the_exit_is_non_zero():
    supervisor = _supervisor({"webserver": CHILD, "daemon": CHILD})
    family = _family(supervisor, 4)
    (daemon,) = [p for p in psutil.Process(supervisor.pid).children() if p.cmdline()[-1] == "daemon"]
    daemon.kill()
    _, err = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 1
    assert "daemon exited with code -9; stopping the others" in err
    assert _gone(family)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period():
    supervisor = _supervisor({"webserver": STUBBORN + CHILD, "daemon": CHILD}, grace=1)
    family = _family(supervisor, 4)
    started = time.monotonic()
    supervisor.terminate()
    supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0 and time.monotonic() - started < 10
    assert _gone(family)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, **variables: str) -> subprocess.Popen:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("FUNNEL_", "DAGSTER_"))}
    env |= {"FUNNEL_LANDING_DIR": str(tmp_path / "landing"), "FUNNEL_WAREHOUSE": str(tmp_path / "w.duckdb")}
    env |= variables
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.serve"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_refuses_to_start_on_a_taken_port_a_missing_home_or_a_typo(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases = [
            ({"DAGSTER_HOME": str(home), "FUNNEL_SERVE_PORT": port}, f"127.0.0.1:{port} cannot be bound"),
            ({"DAGSTER_HOME": str(tmp_path / "nohome"), "FUNNEL_SERVE_PORT": port}, "nohome is not a folder"),
            ({"DAGSTER_HOME": str(home), "FUNNEL_SERVE_PROT": port}, "FUNNEL_SERVE_PROT: unknown"),
        ]
        for variables, message in cases:
            serve = _serve(tmp_path, **variables)
            out, err = serve.communicate(timeout=60)
            assert serve.returncode == 2 and message in err and "nothing was started" in err, (out, err)
            assert "Traceback" not in err


def test_make_serve_answers_on_127_0_0_1_and_stops_cleanly(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_bytes((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_bytes())
    port = _free_port()
    serve = _serve(tmp_path, DAGSTER_HOME=str(home), FUNNEL_SERVE_PORT=str(port))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                if serve.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the webserver did not answer: {serve.communicate(timeout=5)}")
                time.sleep(1)
        listening = [
            c.laddr for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert [address.ip for address in listening] == ["127.0.0.1"]
        family = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "dagster-webserver" in names and "dagster-daemon run" in names
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=60)
        assert serve.returncode == 0, (out, err)
        assert f"Dagster UI on http://127.0.0.1:{port}" in out
        assert _gone(family)
    finally:
        if serve.poll() is None:
            serve.kill()
