"""Run `graphapi serve` as a real process, for tests that need one (several
processes on one database, a process killed mid-load)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, database_url: str, workdir: Path, workers: int = 1, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHAPI_")}
        env["GRAPHAPI_DATABASE_URL"] = database_url
        env.update({f"GRAPHAPI_{name.upper()}": value for name, value in settings.items()})
        self.log = open(workdir / f"server-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graphapi.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so kill() reaches uvicorn's worker processes too
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"graphapi serve exited: {self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"graphapi serve did not start: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown, no flush."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


async def kill_under_load(
    server: Server, load: Callable[[httpx.AsyncClient], Awaitable[None]], concurrency: int, seconds: float
) -> None:
    """Run `concurrency` copies of `load` against the server and SIGKILL it after
    `seconds`; each copy is to return once the server is gone."""
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            tasks = [asyncio.create_task(load(client)) for _ in range(concurrency)]
            await asyncio.sleep(seconds)
            server.kill()
            await asyncio.gather(*tasks)
    finally:
        server.kill()
