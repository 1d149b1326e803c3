"""The local stack without Docker: redis-server (AOF), an S3 server (minio if on PATH, else SeaweedFS
`weed mini`), a Celery worker and the API, each a process group we started, with pid files and logs
under DATA/run and DATA/logs. `gongkai up`/`down` and the test fixtures share this code.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from gongkai.settings import REPO_ROOT, Settings

SERVICES = ("redis", "s3", "worker", "api")  # start order; stopped in reverse
DEV_TENANT = "dev"


class StackError(RuntimeError):
    pass


def free_port(exclude: set[int] | None = None) -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    exclude = exclude or set()
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in exclude:
            return port


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], timeout: float, what: str, *, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if not alive():
            raise StackError(f"{what} exited during start-up")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise StackError(f"{what} not ready after {timeout:.0f}s")


def _venv_bin(name: str) -> str:
    """An executable from this interpreter's environment (the venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} not found (run scripts/setup.sh)")
    return found


@dataclass
class Stack:
    settings: Settings

    @property
    def data(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def run_dir(self) -> Path:
        return self.data / "run"

    @property
    def log_dir(self) -> Path:
        return self.data / "logs"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # -- process bookkeeping -------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The pid of a running service we started, or None (stale pid files are ignored)."""
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # A pid can be reused: it is ours only if it still runs our command and is not a zombie.
        stat = _stat(pid)
        if stat is None or stat[0] == "Z" or not any(marker in cmdline for marker in _MARKERS[name]):
            return None
        return pid

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file(name), "ab") as log:
            # Own session/process group: survives the CLI exiting, and `stop` ends the whole group
            # (celery's pool children, uvicorn's workers) without touching anything else.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self._pid_file(name).write_text(f"{proc.pid}\n")
        return proc

    def stop(self, name: str, timeout: float = 20.0) -> bool:
        """SIGTERM the service's process group, SIGKILL it after `timeout`; True if it was running."""
        pid = self.pid(name)
        self._pid_file(name).unlink(missing_ok=True)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _group_alive(pid):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        # Reap it if it is our child (tests), so no zombie keeps the pid.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return True

    # -- services ------------------------------------------------------------------------------

    def start_redis(self, timeout: float = 15.0) -> None:
        if self.running("redis"):
            return
        url = urlsplit(self.settings.redis_url)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        redis_dir = self.data / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--bind", host,
            "--port", str(port),
            "--dir", str(redis_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        proc = self._spawn("redis", argv)
        import redis

        client = redis.Redis(host=host, port=port, socket_connect_timeout=0.5)
        wait_until(lambda: bool(client.ping()), timeout, "redis-server", alive=lambda: proc.poll() is None)
        client.close()

    def start_s3(self, timeout: float = 30.0) -> None:
        if self.running("s3"):
            return
        host, _, port_text = self.settings.s3_endpoint.rpartition(":")
        port = int(port_text)
        s3_dir = self.data / "s3"
        s3_dir.mkdir(parents=True, exist_ok=True)
        access, secret = self.settings.s3_access_key, self.settings.s3_secret_key.get_secret_value()
        env: dict[str, str] = {}
        minio_bin = shutil.which("minio")
        if minio_bin:
            console = self._ports("s3", ["console"], {port})["console"]
            argv = [minio_bin, "server", str(s3_dir), "--address", f"{host}:{port}",
                    "--console-address", f"{host}:{console}"]  # fmt: skip
            env = {"MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret}
        else:
            argv = self._weed_argv(host, port, s3_dir, access, secret)
        proc = self._spawn("s3", argv, env)
        from storage.objects import ObjectStore

        store = ObjectStore(self.settings)
        wait_until(
            lambda: store.client.list_buckets() is not None,
            timeout,
            "S3 server",
            alive=lambda: proc.poll() is None,
        )
        store.ensure_buckets()

    def _weed_argv(self, host: str, s3_port: int, s3_dir: Path, access: str, secret: str) -> list[str]:
        config = self.run_dir / "s3-identities.json"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        identity = {"name": "gongkai", "credentials": [{"accessKey": access, "secretKey": secret}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        # weed mini opens a dozen ports (master, volume, filer, their gRPC twins, admin); give each a
        # free one, remembered under DATA so a restart finds its volumes where it left them.
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc",
                 "admin", "admin.grpc"]  # fmt: skip
        ports = self._ports("s3", names, {s3_port})
        return [
            _venv_bin("weed"), "mini",
            f"-dir={s3_dir}", f"-ip={host}", f"-ip.bind={host}",
            f"-s3.port={s3_port}", f"-s3.port.grpc={ports['s3.grpc']}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
            f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin.grpc']}",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
        ]  # fmt: skip

    def _ports(self, service: str, names: list[str], taken: set[int]) -> dict[str, int]:
        """Ports for a service's internal listeners: reuse the remembered ones when they are free."""
        path = self.run_dir / f"{service}-ports.json"
        try:
            remembered: dict[str, int] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            remembered = {}
        ports: dict[str, int] = {}
        used = set(taken)
        for name in names:
            port = remembered.get(name)
            if port is None or port in used or port_is_open("127.0.0.1", port):
                port = free_port(used)
            ports[name] = port
            used.add(port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ports))
        return ports

    def child_env(self) -> dict[str, str]:
        return {**self.settings.env(), "PYTHONUNBUFFERED": "1"}

    def start_worker(self, timeout: float = 60.0) -> None:
        if self.running("worker"):
            return
        hostname = f"gongkai-{time.time_ns()}@{socket.gethostname()}"
        argv = [
            sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "--loglevel", self.settings.log_level,
            "--concurrency", str(self.settings.worker_concurrency),
            "--hostname", hostname,
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if self.settings.worker_embedded_beat:
            # The sweeper's schedule runs inside the one local worker (docker-compose: a `beat` service).
            self.run_dir.mkdir(parents=True, exist_ok=True)
            argv += ["--beat", "--schedule", str(self.run_dir / "celerybeat-schedule")]
        proc = self._spawn("worker", argv, self.child_env())
        from workers.celery_app import create_app

        control = create_app(self.settings).control
        wait_until(
            lambda: bool(control.ping(destination=[hostname], timeout=0.5)),
            timeout,
            "celery worker",
            alive=lambda: proc.poll() is None,
        )

    def start_api(self, timeout: float = 30.0) -> None:
        if self.running("api"):
            return
        argv = [
            sys.executable, "-m", "uvicorn", "api.main:app",
            "--host", self.settings.api_host, "--port", str(self.settings.api_port),
            "--no-access-log",
        ]  # fmt: skip
        proc = self._spawn("api", argv, self.child_env())
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/healthz"
        wait_until(
            lambda: httpx.get(url, timeout=1).status_code == 200,
            timeout,
            "API",
            alive=lambda: proc.poll() is None,
        )

    def start(self, name: str) -> None:
        {"redis": self.start_redis, "s3": self.start_s3, "worker": self.start_worker, "api": self.start_api}[
            name
        ]()

    def up(self, services: tuple[str, ...] = SERVICES) -> None:
        for name in SERVICES:
            if name in services:
                self.start(name)
        if "redis" in services:
            self.dev_key()

    def dev_key(self) -> str:
        """The development key of tenant "dev" (kept in `dev_key_file`, which clients read when
        GONGKAI_API_KEY is unset): the one on file while Redis still knows it, else a new one."""
        from storage.apikeys import ApiKeyStore
        from storage.jobs import make_redis

        path = self.settings.dev_key_file
        client = make_redis(self.settings)
        try:
            keys = ApiKeyStore(client)
            with contextlib.suppress(OSError):
                key = path.read_text().strip()
                if key and (record := keys.authenticate(key)) is not None and record.tenant == DEV_TENANT:
                    return key
            key, _ = keys.create(DEV_TENANT)  # none yet, revoked, or Redis was emptied
        finally:
            client.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(key + "\n")
        return key

    def down(self, services: tuple[str, ...] = SERVICES) -> list[str]:
        stopped = []
        for name in reversed(SERVICES):
            if name in services and self.stop(name):
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in SERVICES}


# What a service's command line contains, to tell our process from a reused pid.
_MARKERS = {
    "redis": (b"redis-server",),
    "s3": (b"weed", b"minio"),
    "worker": (b"celery",),
    "api": (b"uvicorn",),
}


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process, from /proc; None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])  # fields after the command: state, ppid, pgrp, ...


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies waiting for a reaper don't count)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap our own child (tests), if it is one
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                return True
    return False
