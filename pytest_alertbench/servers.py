"""Private ``redis-server`` processes for tests and benchmarks that break Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import redis

_P = TypeVar("_P", bound="Processes")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_available() -> bool:
    """Return True if the ``redis-server`` binary is on PATH."""
    return shutil.which("redis-server") is not None


class Processes:
    """Server processes used as a context manager: ``start`` on entry,
    ``cleanup`` on exit."""

    def start(self) -> object:
        """Start the processes and wait until they serve."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Stop the processes and remove their files."""
        raise NotImplementedError

    def __enter__(self: _P) -> _P:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class RedisServer(Processes):
    """A ``redis-server`` child process on a free port, stopped by PID.

    Args:
        directory: Where the server keeps its files; a new temporary
            directory if omitted (removed by ``cleanup``).
        appendonly: Turn on AOF persistence with ``appendfsync always``, so a
            restart after SIGKILL keeps every acknowledged write.
        extra_args: More ``redis-server`` arguments.
        port: The port to listen on; a free one if omitted.
        password: Started with ``--requirepass``; used for the readiness ping.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        appendonly: bool = False,
        extra_args: tuple[str, ...] = (),
        port: int | None = None,
        password: str | None = None,
    ) -> None:
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="alertbench-redis-"))
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's ``redis://`` URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (again, with its data) and wait until it answers."""
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        args += list(self.extra_args)
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the server answers PING (raises ``TimeoutError``)."""
        deadline = time.monotonic() + timeout
        client = redis.Redis(
            port=self.port,
            password=self.password,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} exited")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {self.port} not ready")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop the server with SIGTERM (it may write its files), then reap it."""
        if self.process is None:
            return
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Freeze the server with SIGSTOP: connections hang instead of failing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a server frozen by ``pause``."""
        self._signal(signal.SIGCONT)

    def restart(self, *, keep_data: bool = True) -> None:
        """Kill the server and start it again on the same port."""
        self.kill()
        if not keep_data:
            for name in ("appendonlydir", "appendonly.aof", "dump.rdb"):
                path = self.directory / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its temporary directory."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)
