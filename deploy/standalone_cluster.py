"""A Spark standalone cluster on loopback (one master, n workers) from the installed pyspark.

    .venv/bin/python -m deploy.standalone_cluster --workers 2     # runs until Ctrl-C, then stops

The pip wheel has no sbin/start-*.sh scripts, so the daemons are started with
`$SPARK_HOME/bin/spark-class org.apache.spark.deploy.{master.Master,worker.Worker}`, each in its
own process group (a worker's executors live in its group), on random free ports of 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def spark_home() -> Path:
    """SPARK_HOME, else the installed pyspark package (its bin/spark-class and jars/)."""
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """One spark-class JVM (spark-class execs java, so the pid is the JVM's)."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    webui_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group: the daemon and, for a worker, its executors."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)


@dataclass
class StandaloneCluster:
    """Master + workers on 127.0.0.1 with their logs and work dirs under `work_dir`."""

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    master: Daemon | None = None
    worker_daemons: list[Daemon] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.master is not None, "cluster not started"
        return f"spark://{HOST}:{self.master.port}"

    @property
    def webui(self) -> str:
        assert self.master is not None, "cluster not started"
        return f"http://{HOST}:{self.master.webui_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=HOST,
            SPARK_LOG_DIR=str(self.work_dir / "logs"),
            SPARK_NO_DAEMONIZE="1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOCAL_DIRS=str(self.work_dir / "local"),  # executors' shuffle and spill files
        )
        return env

    def _spawn(self, name: str, args: list[str], port: int, webui_port: int) -> Daemon:
        log = self.work_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), *args],
                stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=self.work_dir, start_new_session=True,
            )  # fmt: skip
        return Daemon(name, process, port, webui_port, log)

    def start(self, timeout: float = 90) -> StandaloneCluster:
        """Start the master, then the workers; return once every worker is ALIVE at the master."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            port, webui = free_port(), free_port()
            self.master = self._spawn(
                "master",
                ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
                 "--webui-port", str(webui)],
                port, webui,
            )  # fmt: skip
            self._wait(lambda state: state.get("status") == "ALIVE", timeout, "master to come up")
            for _ in range(self.workers):
                self.add_worker()
            self._wait(lambda state: len(alive_workers(state)) >= self.workers, timeout, "workers to register")
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> Daemon:
        index = len(self.worker_daemons) + 1
        port, webui = free_port(), free_port()
        work = self.work_dir / f"worker-{index}"
        work.mkdir(parents=True, exist_ok=True)
        daemon = self._spawn(
            f"worker-{index}",
            ["org.apache.spark.deploy.worker.Worker", "--host", HOST, "--port", str(port), "--webui-port", str(webui),
             "--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(work), self.url],
            port, webui,
        )  # fmt: skip
        self.worker_daemons.append(daemon)
        return daemon

    def state(self) -> dict[str, Any]:
        """The master's JSON status page (workers, active and completed applications)."""
        with urllib.request.urlopen(f"{self.webui}/json/", timeout=5) as response:
            return dict(json.load(response))

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for daemon in [self.master, *self.worker_daemons]:
                if daemon is not None and not daemon.alive():
                    raise RuntimeError(f"{daemon.name} exited; see {daemon.log}:\n{daemon.log.read_text()[-3000:]}")
            try:
                if ready(self.state()):
                    return
            except OSError as err:  # web UI not listening yet
                last_error = err
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} ({last_error})")

    def kill_worker(self, index: int = 0) -> Daemon:
        """SIGKILL a worker's JVM and its executors: the node is lost without any goodbye."""
        daemon = self.worker_daemons[index]
        daemon.kill(signal.SIGKILL)
        daemon.process.wait(timeout=30)
        return daemon

    def stop(self, grace: float = 10) -> None:
        """Stop workers then master (SIGTERM, then SIGKILL after `grace` seconds); idempotent."""
        daemons = [d for d in [*self.worker_daemons, self.master] if d is not None]
        for daemon in daemons:
            daemon.kill(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for daemon in daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            daemon.kill(signal.SIGKILL)  # the group: executors a SIGTERM-ed worker left behind
            daemon.process.wait(timeout=30)

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def alive_workers(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1g")
    parser.add_argument("--work-dir", default="build/cluster")
    args = parser.parse_args(argv)
    cluster = StandaloneCluster(Path(args.work_dir).resolve(), args.workers, args.cores, args.memory)
    with cluster:
        print(f"master {cluster.url}  web UI {cluster.webui}  ({len(alive_workers(cluster.state()))} workers)")
        print("Ctrl-C stops the cluster")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
