"""A standalone Spark cluster on 127.0.0.1: one master and one worker, from the installed pyspark.

``python -m treasury_lakehouse.engines.spark_cluster start`` (what ``make spark-cluster`` runs)
starts both as background processes, writes their pid files and logs under ``./spark-work/`` and
returns once the worker has registered with the master; ``stop`` ends them. Point the pipeline at
the cluster with ``--spark-master spark://127.0.0.1:7077`` (or ``TREASURY_SPARK_MASTER``).

The pip package of pyspark has no ``sbin/start-master.sh``; its ``bin/spark-class`` runs the
master and worker classes directly, which is all those scripts do.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pyspark

from treasury_lakehouse.engines.spark import require_java
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.lock import pid_alive

HOST = "127.0.0.1"
DEFAULT_DIR = Path("spark-work")
STATE_FILE = "cluster.json"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
REGISTERED = "Successfully registered with master"


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: where it listens and which processes to stop."""

    work_dir: str
    master_port: int
    master_webui_port: int
    master_pid: int
    worker_pid: int

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"


def spark_home() -> Path:
    return Path(pyspark.__file__).parent


def free_port() -> int:
    """An unused TCP port on the loopback interface (for tests and parallel clusters)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _port_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _launch(java_class: str, args: list[str], log: Path, env: dict[str, str]) -> int:
    """Start ``spark-class <java_class> <args>`` detached, output to ``log``; its pid."""
    command = [str(spark_home() / "bin" / "spark-class"), java_class, *args]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlives the shell that started it, like the sbin scripts
        )
    return process.pid


def _environment(work_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP=HOST,
        SPARK_LOG_DIR=str(work_dir),
        PYSPARK_PYTHON=sys.executable,
    )
    return env


def _wait_for(
    condition: str, check: Callable[[], bool], timeout_s: float, cluster: Cluster
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    stop(Path(cluster.work_dir))
    raise EngineError(
        f"spark cluster: {condition} within {timeout_s:.0f} s; see the logs in {cluster.work_dir}"
    )


def start(
    work_dir: Path = DEFAULT_DIR,
    master_port: int = 7077,
    master_webui_port: int = 8080,
    worker_cores: int = 2,
    worker_memory: str = "4g",
    timeout_s: float = 60.0,
) -> Cluster:
    """Start a master and one worker on 127.0.0.1; return once the worker has registered."""
    require_java()
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    running = status(work_dir)
    if running is not None:
        raise EngineError(
            f"spark cluster already running at {running.master_url} (pids in {work_dir}); "
            "stop it first"
        )
    if _port_answers(master_port):
        raise EngineError(f"spark cluster: port {master_port} on {HOST} is already in use")
    env = _environment(work_dir)
    master_log, worker_log = work_dir / "master.log", work_dir / "worker.log"
    worker_log.write_text("")
    master_args = ["--host", HOST, "--port", str(master_port)]
    master_pid = _launch(
        MASTER_CLASS, [*master_args, "--webui-port", str(master_webui_port)], master_log, env
    )
    cluster = Cluster(str(work_dir), master_port, master_webui_port, master_pid, 0)
    _write_state(cluster)
    _wait_for("the master did not answer", lambda: _port_answers(master_port), timeout_s, cluster)
    worker_args = ["--host", HOST, "--port", str(free_port()), "--webui-port", str(free_port())]
    worker_args += ["--cores", str(worker_cores), "--memory", worker_memory]
    worker_args += ["--work-dir", str(work_dir / "worker"), cluster.master_url]
    worker_pid = _launch(WORKER_CLASS, worker_args, worker_log, env)
    cluster = Cluster(str(work_dir), master_port, master_webui_port, master_pid, worker_pid)
    _write_state(cluster)

    def registered() -> bool:
        return REGISTERED in worker_log.read_text(errors="replace")

    _wait_for("the worker did not register with the master", registered, timeout_s, cluster)
    return cluster


def _write_state(cluster: Cluster) -> None:
    work_dir = Path(cluster.work_dir)
    (work_dir / STATE_FILE).write_text(json.dumps(asdict(cluster), indent=2))
    (work_dir / "master.pid").write_text(f"{cluster.master_pid}\n")
    if cluster.worker_pid:
        (work_dir / "worker.pid").write_text(f"{cluster.worker_pid}\n")


def status(work_dir: Path = DEFAULT_DIR) -> Cluster | None:
    """The cluster started from ``work_dir`` if its master is still running."""
    state = work_dir.resolve() / STATE_FILE
    if not state.exists():
        return None
    cluster = Cluster(**json.loads(state.read_text()))
    return cluster if pid_alive(cluster.master_pid) else None


def _terminate(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM the process (a JVM shuts down cleanly), SIGKILL it if it lingers."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:  # reap it if it is our child (a test that started the cluster in-process)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def stop(work_dir: Path = DEFAULT_DIR) -> bool:
    """Stop the worker, then the master, started from ``work_dir``; ``False`` if none was."""
    work_dir = work_dir.resolve()
    state = work_dir / STATE_FILE
    if not state.exists():
        return False
    cluster = Cluster(**json.loads(state.read_text()))
    _terminate(cluster.worker_pid)
    _terminate(cluster.master_pid)
    for name in (STATE_FILE, "master.pid", "worker.pid"):
        (work_dir / name).unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m treasury_lakehouse.engines.spark_cluster",
        description="Start or stop a standalone Spark master and one worker on 127.0.0.1.",
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="pid files and logs")
    parser.add_argument("--port", type=int, default=7077, help="the master's port")
    parser.add_argument("--webui-port", type=int, default=8080, help="the master's web UI port")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="worker cores")
    parser.add_argument("--memory", default="4g", help="worker memory for executors")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            cluster = start(args.dir, args.port, args.webui_port, args.cores, args.memory)
            print(f"spark master {cluster.master_url} and one worker running (logs in {args.dir})")
            print(f"use: treasury run --engine spark --spark-master {cluster.master_url}")
        elif args.action == "stop":
            print("stopped" if stop(args.dir) else f"no cluster was started from {args.dir}")
        else:
            running = status(args.dir)
            print(running.master_url if running else "not running")
            return 0 if running else 3
    except EngineError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
