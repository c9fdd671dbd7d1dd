"""Run a jail container to its end (or its wall-clock limit), its output streamed into files.

The agent's stdout is its transcript (Claude Code's `stream-json`, Codex's `--json` events), so it
is written to `stdout_path` as it comes, line by line: the channel server cuts each candidate's
part out of it while the agent still runs. The container is removed whatever happens.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from afr_box.sandbox.jail.spec import JailSpec, jail_container_args


@dataclass(frozen=True)
class JailResult:
    exit_code: Optional[int]
    timed_out: bool
    oom_killed: bool
    wall_s: float


def _stream(container, path: Path, stdout: bool) -> None:
    with open(path, "ab") as out:
        for chunk in container.logs(stream=True, follow=True, stdout=stdout, stderr=not stdout):
            out.write(chunk)
            out.flush()


def run_jail(client, spec: JailSpec, stdout_path: Path, stderr_path: Path,
             on_start=lambda container_id: None) -> JailResult:
    import requests

    container = client.containers.create(**jail_container_args(spec))
    start = time.monotonic()
    streams = [threading.Thread(target=_stream, args=(container, path, out), daemon=True)
               for path, out in ((stdout_path, True), (stderr_path, False))]
    try:
        container.start()
        on_start(container.id)
        for thread in streams:
            thread.start()
        timed_out, exit_code = False, None
        while True:
            left = spec.timeout_s - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                container.kill()
                container.wait(timeout=60)
                break
            try:
                exit_code = container.wait(timeout=min(5.0, left))["StatusCode"]
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue
        for thread in streams:
            thread.join(10)
        container.reload()
        return JailResult(exit_code=None if timed_out else exit_code, timed_out=timed_out,
                          oom_killed=bool(container.attrs["State"].get("OOMKilled")),
                          wall_s=round(time.monotonic() - start, 3))
    finally:
        container.remove(force=True)
