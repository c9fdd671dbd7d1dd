"""Site isolation inside the training container: each site's client reads its own site only.

NVFlare's simulator runs the server (which runs no candidate code: server_config.py) as the
parent of every client worker, so whatever the server may read, its workers could. Here the workers are not its
children. The server runs restricted by Landlock to no site at all (simulate.py), as does job.py's
export; its request to start a worker goes through a relay (site_relay.py) to the broker below,
in the trusted runner, which has the worker forked by its fork server (preload.py: torch and
NVFlare imported once, before any candidate code ran), restricted to its own site's folder. The
fork server measures each site's CPU time (wait4: its worker and everything the worker started),
outside every candidate process: the trusted local compute a scorer holds against its bound.

Each worker also writes only beneath its own client workspace (`<workspace>/<site>`, the one the
simulator names in its -o argument, checked here) and a private temporary folder (its TMPDIR and
HOME): not the server's workspace (the global model, the round-metrics file), not another
site's, and not a file in /tmp for another site's client to pick up.

A worker reads no other site's client folders either (what a client leaves in its own folders
stays its own), may use TCP only to listen on its own port and to connect to the server's
(Landlock), and opens no other channel to another process: no Unix socket, UDP, System V IPC
or message queue (channel_filter.py; job.py's export and the aggregator worker have it too).

What this does not stop: client code that hands its own rows on, to the server in its updates
(any FL deployment that runs untrusted code on its clients has that channel); it stops reading
another site's data directly, and every way past NVFlare's own messages for one client to hand
it to another.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import urlsplit

WORKER_MODULE = "nvflare.private.fed.app.simulator.simulator_worker"
BROKER_ENV = "AFR_SITE_BROKER"      # the broker's socket, for the relays
WORKER_ARGV_ENV = "AFR_WORKER_ARGV"  # the worker command a relay asks for
VIEW_PATH_ENV = "AFR_VIEW_PATH"      # the surface view's import path, for simulate.py
ISOLATE_BARE_ENV = "AFR_SITE_ISOLATION"  # "1": isolate a bare run on the host too (`afr-box bench`)
PLAIN_ENV = "AFR_SIMULATE_PLAIN"  # "1": simulate.py without isolation (a bare run on the host)
MAX_REQUEST = 1 << 20
STOP_WAIT_S = 5.0  # the fork server's stop (kill, reap, count); preload.STOP_S plus a margin
# How a refused read shows in a Python traceback or log line.
DENIED = re.compile(r"Permission denied: '([^']+)'")
PRIVATE_FOLDER = "afr-private"  # beside the broker's socket: <site>/ holds each of its workers' TMPDIR and HOME


class SiteRefused(Exception):
    """A worker request the broker does not start."""


def readable(data: Path, sites: Iterable[str], site: Optional[str], others: Iterable[Path] = ()) -> list[Path]:
    """What a process may read files beneath: everything but `data`'s site folders, except its
    own `site`'s (None: no site), and but `others` (the folders other sites' clients write:
    client_folders). (Folders stay listable: landlock.py.)"""
    data = data.resolve()
    return everything_but([data / s for s in sites if s != site] + [Path(p).resolve() for p in others])


def everything_but(denied: list[Path]) -> list[Path]:
    """Landlock rules granting every file but those beneath `denied` (absolute, resolved paths):
    the path down to each is allowed entry by entry, so nothing above it grants it whole. A
    denied folder that does not exist yet is covered too: what appears later in a folder that is
    walked here is in no rule."""
    above = {parent for d in denied for parent in d.parents}
    allowed: list[Path] = []

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            return
        for entry in entries:
            path = folder / entry
            if path in above:
                walk(path)
            elif path not in denied:
                allowed.append(path)

    walk(Path("/"))
    # A rule follows symlinks: one that leads into a denied folder (or above one) is no rule.
    return [p for p in allowed if not _reaches(p.resolve(), denied)]


def _reaches(real: Path, denied: list[Path]) -> bool:
    return any(real == d or d in real.parents or real in d.parents for d in denied)


def client_folders(workspace: Path, private: Path, site: str) -> list[Path]:
    """The folders `site`'s client worker may write (so the only ones it may read besides the
    data): its client workspace in the simulator's `workspace` and its folder under `private`
    (its workers' TMPDIR and HOME). No other site's client, and not the aggregator, reads them."""
    return [workspace / site, private / site]


def worker_site(argv: list[str], sites: Iterable[str]) -> str:
    """The site a simulator worker command is for; SiteRefused for anything else."""
    if len(argv) < 3 or argv[1:3] != ["-m", WORKER_MODULE]:
        raise SiteRefused(f"not a simulator worker: {' '.join(argv[:3])[:200]}")
    try:
        site = argv[argv.index("--client") + 1]
    except (ValueError, IndexError):
        raise SiteRefused("a worker command without --client") from None
    if site not in set(sites):
        raise SiteRefused(f"no such site in the budget: {site[:100]!r}")
    return site


def worker_ports(argv: list[str]) -> dict[str, list[int]]:
    """The TCP a simulator worker needs, from the command the server gave it: to listen on its
    --port (where its client thread in the server connects) and to connect to the server's cell
    (--root_url). Nothing else: no client reaches another's listener."""
    try:
        listen = int(argv[argv.index("--port") + 1])
        root = urlsplit(argv[argv.index("--root_url") + 1]).port
    except (ValueError, IndexError):
        raise SiteRefused("a worker command without a valid --port and --root_url") from None
    if root is None or not (0 < listen < 65536):
        raise SiteRefused("a worker command without a valid --port and --root_url")
    return {"bind": [listen], "connect": [root]}


def denied_site_path(line: str, data: Path, sites: Iterable[str], folders: Iterable[Path] = ()) -> Optional[str]:
    """The site path a log line says was refused (a client or the server read another site's
    data, or a client or the aggregator reached into a site's client `folders`), or None."""
    m = DENIED.search(line)
    if not m:
        return None
    path = Path(m.group(1))
    if any(path == f or f in path.parents for f in folders):
        return str(path)
    try:
        rel = path.relative_to(data)
    except ValueError:
        return None
    return str(path) if rel.parts and rel.parts[0] in set(sites) else None


def denied_write_path(line: str, tmp: Path) -> Optional[str]:
    """The path a log line says was refused beneath `tmp` (the work folders, the workspaces, the
    simulator's and the workers' temporary folders), or None. Everything there but the sites'
    client folders (denied_site_path's) is readable, so such a refusal is a write outside the
    folders a client worker or the aggregator may write."""
    m = DENIED.search(line)
    if not m:
        return None
    path = Path(m.group(1))
    return str(path) if path == tmp or tmp in path.parents else None


def isolation_reason(path: str, who: str = "a process") -> str:
    return (f"site isolation: {who} was refused {path}; each site's client reads only its own "
            "site's data and client folders, the server and job.py no site's data, the aggregator neither")


def write_isolation_reason(path: str) -> str:
    return (f"site isolation: a client or the aggregator was refused writing {path}; each site's client "
            "writes only its own workspace and temporary folder, the aggregator only its own")


class SiteBroker:
    """Starts simulator workers on request, each restricted to its own site (with `isolate`; a bare
    run on the host has no restriction), forked from a fork server that preloaded torch and NVFlare
    (preload.py); kills them all on stop."""

    def __init__(self, socket_path: Path, sites: list[str], launcher_env: dict[str, str], isolate: bool = True,
                 workspace: Optional[Path] = None):
        self.socket_path, self.sites, self.launcher_env, self.isolate = socket_path, list(sites), launcher_env, isolate
        self.workspace = workspace  # the simulator's: each worker writes only beneath its own site's folder there
        self.private = socket_path.parent / PRIVATE_FOLDER  # <site>/: each worker's own temporary folder, removed at exit
        self.cpu_s: dict[str, float] = {}  # each site's CPU seconds: its workers and what they left behind
        self.unattributed_cpu_s = 0.0      # left behind outside every worker's session (it called setsid)
        self.stopped = False               # the fork server counted everything and stopped
        self.refused: list[str] = []
        self.ended: list[tuple[str, int]] = []  # (site, exit code) of each worker the fork server reaped, in order
        self._sites_of: dict[str, str] = {}  # request id -> site
        self._running: set[int] = set()  # pids of the workers (each leads its own session)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._forks: Optional[socket.socket] = None  # the channel to the fork server
        self._fork_server: Optional[subprocess.Popen] = None
        self._replies: dict[str, dict] = {}
        self._replied = threading.Condition(self._lock)
        self._next_id = 0

    @property
    def fork_server_pid(self) -> Optional[int]:
        return self._fork_server.pid if self._fork_server else None

    def __enter__(self) -> "SiteBroker":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for sock in (ours, theirs):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2 * MAX_REQUEST)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2 * MAX_REQUEST)
        self._fork_server = subprocess.Popen(
            [sys.executable, "-I", "-m", "afr_box.sandbox.harness.preload", str(theirs.fileno()),
             "1" if self.isolate else "0"],
            pass_fds=[theirs.fileno()], env=self.launcher_env, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
        theirs.close()
        self._forks = ours
        threading.Thread(target=self._read_forks, daemon=True, name="afr-fork-replies").start()
        self.socket_path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.socket_path))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True, name="afr-site-broker").start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        self.socket_path.unlink(missing_ok=True)
        self.kill_all()
        if self._forks is not None:
            try:  # the fork server kills and reaps what is left, counts it, and says it stopped
                self._forks.send(json.dumps({"stop": True}).encode())
            except OSError:
                pass
            self._await("stopped", "stopped", timeout=STOP_WAIT_S)
            try:  # shutdown, not only close: the reply reader blocked in recv holds the socket open
                self._forks.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._forks.close()  # the fork server stops its children and exits...
        if self._fork_server is not None:
            try:
                self._fork_server.wait(timeout=5)
            except subprocess.TimeoutExpired:  # ...or is stopped here
                kill_session(self._fork_server.pid)
                self._fork_server.wait()
        shutil.rmtree(self.private, ignore_errors=True)

    def accounting(self) -> dict:
        """What train_stats.json records of local compute (complete once the broker has stopped)."""
        return {"site_cpu_s": dict(sorted(self.cpu_s.items())),
                "unattributed_cpu_s": round(self.unattributed_cpu_s, 3), "cpu_accounting_complete": self.stopped}

    def kill_all(self) -> None:
        """Every worker still running, killed with its session (the run is over or restarted)."""
        with self._lock:
            running = list(self._running)
        for pid in running:
            kill_session(pid)

    def _read_forks(self) -> None:
        while True:
            try:
                message = self._forks.recv(MAX_REQUEST)
            except OSError:
                message = b""
            with self._lock:
                if not message:  # the fork server is gone: nobody waits for it any more
                    self._replies["*"] = {"gone": True}
                    self._replied.notify_all()
                    return
                reply = json.loads(message)
                if "exit" in reply:
                    site = self._sites_of.get(reply["id"])
                    self._count(site, float(reply["cpu_s"]))
                    self.ended.append((site or "?", int(reply["exit"])))
                if "left_behind" in reply:
                    self._count(reply["left_behind"], float(reply["cpu_s"]))
                    continue
                if reply.get("stopped"):
                    self.stopped = True
                    reply["id"] = "stopped"
                self._replies.setdefault(reply["id"], {}).update(reply)
                self._replied.notify_all()

    def ended_workers(self) -> list[tuple[str, int]]:
        """(site, exit code) of every worker reaped so far: the trusted record of which died
        (a forked worker carries the fork server's command line, so /proc cannot name it)."""
        with self._lock:
            return list(self.ended)

    def _count(self, site: Optional[str], cpu: float) -> None:
        """(Under the lock.) CPU seconds of a site's process; of none (it left its worker's session):
        unattributed."""
        if site in self.sites:
            self.cpu_s[site] = round(self.cpu_s.get(site, 0.0) + cpu, 3)
        else:
            self.unattributed_cpu_s += cpu

    def _await(self, rid: str, key: str, timeout: Optional[float] = None) -> Optional[dict]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while key not in self._replies.get(rid, {}) and "*" not in self._replies:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._replied.wait(left)
            return self._replies.get(rid) if key in self._replies.get(rid, {}) else None

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            fds: list[int] = []
            try:
                _, fds, _, _ = socket.recv_fds(conn, 1, 2)  # the relay's stdout and stderr: the worker's
                if len(fds) != 2:
                    raise ValueError("no output descriptors")
                request = json.loads(read_line(conn))
                argv, env = list(map(str, request["argv"])), {str(k): str(v) for k, v in request["env"].items()}
                site = worker_site(argv, self.sites)
                writable = self._writable(argv, site)
                tcp = worker_ports(argv) if self.isolate else {}
            except (OSError, ValueError, KeyError, TypeError, AttributeError, SiteRefused) as exc:
                for fd in fds:
                    os.close(fd)
                reason = str(exc) if isinstance(exc, SiteRefused) else f"unreadable request ({type(exc).__name__})"
                self.refused.append(reason)
                send_message(conn, {"refused": reason})
                return
            with self._lock:
                self._next_id += 1
                rid = str(self._next_id)
                self._sites_of[rid] = site
            message = json.dumps({"id": rid, "site": site, "args": argv[3:], "env": env, "writable": writable,
                                  "others": [str(f) for f in self.client_folders(but=site)], "tcp": tcp}).encode()
            try:
                socket.send_fds(self._forks, [message], fds)
            except OSError as exc:
                send_message(conn, {"refused": f"the fork server is gone ({exc})"})
                return
            finally:
                for fd in fds:
                    os.close(fd)
            started = self._await(rid, "pid")
            if started is None:
                send_message(conn, {"refused": "the fork server is gone"})
                return
            pid = int(started["pid"])
            with self._lock:
                self._running.add(pid)
            threading.Thread(target=self._kill_on_hangup, args=(conn, pid), daemon=True).start()
            ended = self._await(rid, "exit")
            code = int(ended["exit"]) if ended else -signal.SIGKILL  # its CPU is counted as it arrives
            with self._lock:
                self._running.discard(pid)
            try:
                send_message(conn, {"exit": code})
            except OSError:
                pass  # the relay is gone already

    def _writable(self, argv: list[str], site: str) -> Optional[list[str]]:
        """Where the worker may write (None: anywhere; a bare run without isolation): its client
        workspace, which must be the one for its site, and a new private folder."""
        if not self.isolate or self.workspace is None:
            return None
        try:
            given = argv[argv.index("-o") + 1]
        except (ValueError, IndexError):
            raise SiteRefused("a worker command without its workspace (-o)") from None
        own, private = client_folders(self.workspace, self.private, site)
        if os.path.normpath(given) != str(own):
            raise SiteRefused(f"a worker for {site} with workspace {given[:200]!r}, not {own}")
        # The simulator makes the workspace first; a rule needs the folders to exist.
        for folder in (own, private):
            folder.mkdir(parents=True, exist_ok=True)
        return [str(own), tempfile.mkdtemp(prefix="worker-", dir=private)]

    def client_folders(self, but: Optional[str] = None) -> list[Path]:
        """Every site's client folders (but `but`'s); none in a bare run without isolation."""
        if not self.isolate or self.workspace is None:
            return []
        return [f for site in self.sites if site != but for f in client_folders(self.workspace, self.private, site)]

    def _kill_on_hangup(self, conn: socket.socket, pid: int) -> None:
        """The relay went away (the simulator stopped it): its worker goes too."""
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            running = pid in self._running
        if running:
            kill_session(pid)


def kill_session(pid: int) -> None:
    """SIGKILL the session `pid` leads (and `pid` itself, should it have left it)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def read_line(conn: socket.socket) -> bytes:
    """One message line, or what came before the peer hung up (no newline then)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too large")
    return bytes(data)


def send_message(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")
