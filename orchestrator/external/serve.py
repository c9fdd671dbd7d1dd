"""`afr-box agent serve`: the host end of the channel a jailed agent talks through.

It listens on a Unix socket (mounted into the jail at /run/afr/channel.sock) and answers exactly
the verbs of `sandbox/jail/channel.py`: try, smoke, check, status, literature. Each is the host's
own command on the host's workspace: the snapshot in a `try`/`check` request is unpacked into a
private folder and goes through the same `try_workspace` and gate as a `try` on the host, so the
row has the same fields as any candidate's. Nothing else can be asked: an unknown verb, a
malformed header, an argument of the wrong type or a snapshot past its bounds is refused with one
line and logged. Every request is a line of `channel.log` (JSON: verb, arguments, bytes, exit).

A `try` runs to its end even when the jail's command is stopped (a tool timeout): its row is
logged and `afr-box status` shows it. Requests are served in threads (status while a try
runs); the campaign lock keeps tries one at a time.
"""
from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from afr_box.orchestrator.external.workspace import Workspace
from afr_box.orchestrator.records.runlog import utc_now
from afr_box.sandbox.jail import channel
from afr_box.tasks.shared.errors import AfrError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_TEXT = 2000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TryArgs(_Args):
    message: str = Field("", max_length=MAX_TEXT)
    sources: list[str] = Field(default_factory=list, max_length=20)


class CheckArgs(_Args):
    as_json: bool = Field(False, alias="json")


class StatusArgs(_Args):
    last: int = Field(10, ge=1, le=1000)
    as_json: bool = Field(False, alias="json")


class LiteratureArgs(_Args):
    action: str = Field(pattern=r"^(start|finish|log)$")
    sources: list[str] = Field(default_factory=list, max_length=20)
    message: str = Field("", max_length=MAX_TEXT)


ARGS = {"try": TryArgs, "smoke": TryArgs, "check": CheckArgs, "status": StatusArgs, "literature": LiteratureArgs}
Progress = Callable[[str], None]


class Answer(Exception):
    """The end of a request: exit code and text (raised from inside a handler)."""

    def __init__(self, exit_code: int, out: str = "", err: str = ""):
        super().__init__(err or out)
        self.exit_code, self.out, self.err = exit_code, out, err


def received(data: bytes) -> Callable[[Path], Any]:
    """How a request's snapshot becomes a private folder of the host's (attempt.TakeSnapshot)."""
    from afr_box.orchestrator.external.snapshot import Snapshot

    taken_at = utc_now()

    def take(dest: Path) -> Snapshot:
        why = channel.unpack_tree(data, str(dest))
        return Snapshot(dest, taken_at, ("file-types", why) if why else None)

    return take


class ChannelServer:
    """The channel of one workspace on `socket_path`, served in a thread of its own."""

    def __init__(self, ws: Workspace, socket_path: Path, log_path: Path, transcript: Optional[Path] = None,
                 after_try: Callable[[], None] = lambda: None):
        self.ws, self.socket_path, self.log_path, self.transcript = ws, Path(socket_path), Path(log_path), transcript
        self.after_try = after_try  # e.g. refresh the records the jail may read (jail_view.py)
        self.counts: Counter = Counter()
        self.candidates: list[str] = []
        self._transcript_at = 0  # where the part of the transcript not yet given to a candidate starts
        self._lock = threading.Lock()
        self._server: Optional[socketserver.ThreadingUnixStreamServer] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "ChannelServer":
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                server.handle(self.rfile, self.wfile)

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = False
            block_on_close = True  # stop() waits for a try in flight: its row is logged whole

        if self.socket_path.exists():
            self.socket_path.unlink()
        self._server = Server(str(self.socket_path), Handler)
        os.chmod(self.socket_path, 0o666)  # the jail's user connects; the folder around it limits who can
        self._thread = threading.Thread(target=self._server.serve_forever, name="afr-channel", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ChannelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """`afr-box agent serve` in the foreground: until the thread is stopped (SIGTERM, Ctrl-C)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(1)
        finally:
            self.stop()

    # ------------------------------------------------------------------ one request

    def handle(self, rfile, wfile) -> None:
        start, verb, args, size = time.monotonic(), "", {}, 0

        def progress(message: str) -> None:
            try:  # the jail's command may be gone (a tool timeout): the request goes on regardless
                channel.send_line(wfile, {"progress": message})
            except OSError:
                pass

        try:
            verb, raw, data = channel.read_request(rfile)
            size = len(data)
            try:
                args = ARGS[verb].model_validate(raw).model_dump()
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"]) or "args"
                raise Answer(EXIT_BAD_INPUT, err=f"error: {verb}: {where}: {err['msg']}") from None
            answer = self.dispatch(verb, args, data, progress)
        except channel.ChannelError as exc:
            answer = Answer(EXIT_BAD_INPUT, err=f"error: refused by the channel: {exc}")
        except Answer as exc:
            answer = exc
        except AfrError as exc:
            answer = Answer(EXIT_BAD_INPUT, err=f"error: {' '.join(str(exc).split())}")
        except Exception as exc:  # a bug on this side: the jail gets one line, the log the type
            answer = Answer(EXIT_BAD_INPUT, err=f"error: the host failed ({type(exc).__name__}: {exc})")
        # Logged before the answer goes out: whatever the agent saw answered is in channel.log, in order.
        self.log(verb=verb or "(refused)", args={k: (v[:200] if isinstance(v, str) else v) for k, v in args.items()},
                 snapshot_bytes=size, exit=answer.exit_code, answer=(answer.err or answer.out).split("\n")[0][:300],
                 seconds=round(time.monotonic() - start, 3))
        try:
            channel.send_line(wfile, {"exit": answer.exit_code, "out": answer.out, "err": answer.err})
        except OSError:
            pass

    def log(self, **entry) -> None:
        with self._lock:
            self.counts[entry["verb"]] += 1
            with open(self.log_path, "a") as fh:
                fh.write(json.dumps({"time": utc_now(), **entry}, sort_keys=True) + "\n")

    def dispatch(self, verb: str, args: dict[str, Any], data: bytes, progress: Progress) -> Answer:
        from afr_box.orchestrator.external import check, literature, status

        ws = self.ws
        if verb == "try":
            return self._try(args, data, progress)
        if verb == "smoke":
            return self._smoke(args, data, progress)
        if verb == "check":
            verdict = check.check_workspace(ws, take=received(data))
            out = json.dumps(verdict, indent=2, sort_keys=True) if args["as_json"] else check.check_text(verdict)
            return Answer(EXIT_OK if verdict["ok"] else EXIT_CHECK_FAILED, out=out)
        if verb == "status":
            data = status.status_data(ws, args["last"])
            return Answer(EXIT_OK, out=json.dumps(data, indent=2, sort_keys=True, default=str) if args["as_json"]
                          else status.status_text(data))
        if args["action"] == "start":
            return Answer(EXIT_OK, out=literature.literature_start(ws))
        if args["action"] == "finish":
            from afr_box.orchestrator.external.attempt import format_row

            row = literature.literature_finish(ws, args["sources"], args["message"])
            return Answer(EXIT_OK, out=format_row(row))
        return Answer(EXIT_OK, out=literature.literature_log(ws))

    def _try(self, args: dict[str, Any], data: bytes, progress: Progress) -> Answer:
        from afr_box.orchestrator.external.attempt import format_row, try_workspace
        from afr_box.orchestrator.external.status import plateau

        try:
            rows = try_workspace(self.ws, args["message"], args["sources"], progress=progress, take=received(data))
        finally:
            self.after_try()
        for row in rows:
            if row.proposer != "baseline":
                self._keep_transcript(row.candidate)
                self.candidates.append(row.candidate)
        out = "\n\n".join(format_row(r) for r in rows) + "\n\n" + plateau(self.ws).describe()
        return Answer(EXIT_OK, out=out)

    def _smoke(self, args: dict[str, Any], data: bytes, progress: Progress) -> Answer:
        from afr_box.orchestrator.external.attempt import smoke_workspace

        ok, text = smoke_workspace(self.ws, args["message"], progress=progress, take=received(data))
        return Answer(EXIT_OK if ok else EXIT_CHECK_FAILED, out=text)

    def _keep_transcript(self, cand: str) -> None:
        """The part of the session's transcript since the previous candidate, as this candidate's."""
        if self.transcript is None or not self.transcript.is_file():
            return
        with self._lock, open(self.transcript, "rb") as fh:
            fh.seek(self._transcript_at)
            part = fh.read()
            self._transcript_at += len(part)
        self.ws.campaign.candidate(cand).transcript.write_bytes(part)

