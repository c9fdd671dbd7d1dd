"""Running the NVFlare simulator under watch: a run that stops making progress ends in minutes,
not at the container's wall-clock limit, and is started once more; a run that lost a client
process ends within seconds, as a failure that names the site and why it died.

Under CPU contention NVFlare 2.9's simulator can lose a task hand-over (a reply that arrives
after its waiter gave up): the server then waits for a result that never comes, and the run
hangs until the phase timeout (measured here: heart stuck in round 3 of 15 for the rest of its
600 s). A round's duration is steady within a run (the same clients, steps and model), so a round
that takes far longer than the slowest finished one is a stall: the whole simulator tree is
killed and the run starts again from scratch. Runs are seeded per (seed, site, round) and
aggregated in a fixed order, so the restart gives the same final model; it is recorded.

A client process that dies (the kernel's OOM killer at the container's memory limit, a crash of
the interpreter) is a different case: NVFlare's simulator logs it ("Subprocess died for client
site-N, exit code: -9" / "Communication error with client site-N") and then its server waits for
that client's result until the phase timeout. The first such line ends the run at once; it is
not started again (the same data and code would die the same way), and the reason says which
site died and whether the container's cgroup counted an OOM kill, with its memory limit.

NVFlare does not always log a death: a worker the OOM killer took can go unmentioned while the
run goes on (seen in CI: site-2's worker killed at the 3 GiB limit, the run finished and was
scored). So in a sandbox the watch also reads the container's OOM-kill counter on every poll: a
kill during the run ends it as a dead client, named by the simulator worker (`... --client
site-N ...` in /proc) that is gone.

A broken connection alone ("Communication error ... Connection reset by peer": no exit code, no
OOM kill counted) is not proof of a death the candidate caused: under CPU contention the
simulator loses one now and then (seen in CI, on the unmodified baseline). It ends the run too,
but the run is started once more, as after a stall; a second loss fails it as a dead client.

The simulator can also lose the thread that drives a client ("run_client_thread error:
ConnectionResetError ..." while it connects to the client's new worker, seen in CI under load):
that client's result never comes and the server waits for it until the phase timeout. Such a
line, with the run still going THREAD_LOST_GRACE_S later, is a lost client too (started once
more); the line names no site.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROUND_STARTED = re.compile(r"Round (\d+) started\.")
# nvflare/private/fed/app/simulator/simulator_runner.py, SimulatorClientRunner.do_one_task
CLIENT_DIED = re.compile(r"(?:Subprocess died for client|Communication error with client) ([\w.-]+?)"
                         r"(?:,| before [\w ]+,|:)(?:.*?exit code: (-?\d+))?")
# nvflare/private/fed/app/simulator/simulator_runner.py, SimulatorClientRunner.run_client_thread
THREAD_LOST = re.compile(r"run_client_thread error: (.*)")
CGROUP = Path("/sys/fs/cgroup")
STALL_MIN_S = 120.0   # never call a round stalled before this
STALL_FACTOR = 10.0   # ... nor before it took this many times the slowest finished round
MAX_STARTS = 2
THREAD_LOST_GRACE_S = 20.0  # a run still going this long after it lost a client thread will not finish
OOM_NAME_WAIT_S = 3.0  # how long an OOM kill waits for the site broker to reap (and so name) the worker


def _read_int(*candidates: Path, key: Optional[str] = None) -> Optional[int]:
    """The first readable integer among cgroup files (`key`: a `name value` line of it)."""
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if key is None and parts and parts[0].isdigit():
                return int(parts[0])
            if key is not None and len(parts) == 2 and parts[0] == key:
                return int(parts[1])
    return None


def oom_kills(root: Path = CGROUP) -> Optional[int]:
    """OOM kills counted in this container's memory cgroup (v1 memory.oom_control, v2 memory.events)."""
    return _read_int(root / "memory" / "memory.oom_control", root / "memory.events", key="oom_kill")


def oom_killed_since(before: Optional[int], root: Path = CGROUP) -> bool:
    """Whether the cgroup counted an OOM kill since it counted `before`."""
    after = oom_kills(root)
    return after is not None and after > (before or 0)


def memory_limit(root: Path = CGROUP) -> Optional[int]:
    return _read_int(root / "memory" / "memory.limit_in_bytes", root / "memory.max")


def death_reason(site: str, exit_code: Optional[int], oom_before: Optional[int], root: Path = CGROUP,
                 others: tuple[str, ...] = ()) -> str:
    """Why a client process died, in words: the site (and any other site that died with it), the
    signal or exit code, and the OOM killer with the container's memory limit when the cgroup
    counted a kill."""
    also = f" (then {', '.join(others)} too)" if others else ""
    how = (f"killed by signal {-exit_code} ({signal.Signals(-exit_code).name})" if exit_code is not None and exit_code < 0
           and -exit_code in signal.valid_signals() else f"exit code {exit_code}" if exit_code is not None else "its connection to the simulator broke")
    if oom_killed_since(oom_before, root):
        limit = memory_limit(root)
        at = f" of {limit / 2 ** 30:.1f} GiB" if limit and limit < 2 ** 60 else ""
        return (f"the client process of {site} died ({how}){also}: the OOM killer killed it at the container's "
                f"memory limit{at}; read the data lazily (site_env.open_site) or lower the batch size")
    return f"the client process of {site} died ({how}){also}"


@dataclass(frozen=True)
class Stopped:
    """Why the watch ended a run."""

    kind: str  # "stall", "lost_client" (both started again) or "dead_client" (not)
    reason: str


@dataclass
class Watch:
    """What the output told about progress: when each round started, and a client that died."""

    started: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dead: list[tuple[str, Optional[int]]] = field(default_factory=list)  # (site, exit code), in log order
    thread_lost: Optional[tuple[float, str]] = None  # (when, the error) of the first client thread the simulator lost

    @property
    def died(self) -> Optional[tuple[str, Optional[int]]]:
        return self.dead[0] if self.dead else None

    def saw(self, line: str, now: float) -> None:
        m = ROUND_STARTED.search(line)
        if m:
            with self.lock:
                self.started.setdefault(int(m.group(1)), now)
        lost = THREAD_LOST.search(line)
        if lost:
            with self.lock:
                if self.thread_lost is None:
                    self.thread_lost = (now, lost.group(1).strip()[:200])
        dead = CLIENT_DIED.search(line)
        if dead:
            with self.lock:
                if dead.group(1) not in {site for site, _ in self.dead}:
                    self.dead.append((dead.group(1), int(dead.group(2)) if dead.group(2) else None))

    def stalled(self, now: float, min_s: float = STALL_MIN_S, factor: float = STALL_FACTOR) -> Optional[str]:
        """Why the run counts as stalled now, or None. Needs one finished round to judge by."""
        with self.lock:
            if len(self.started) < 2:
                return None
            rounds = sorted(self.started)
            finished = [self.started[b] - self.started[a] for a, b in zip(rounds, rounds[1:])]
            current, since = rounds[-1], now - self.started[rounds[-1]]
        limit = max(min_s, factor * max(finished))
        if since > limit:
            return f"round {current} made no progress for {since:.0f} s (slowest finished round {max(finished):.1f} s)"
        return None


def _death(watch: Watch, oom_before: Optional[int], cgroup: Path) -> Stopped:
    (site, code), others = watch.dead[0], tuple(s for s, _ in watch.dead[1:])
    if not oom_killed_since(oom_before, cgroup) and all(c is None for _, c in watch.dead):
        return Stopped("lost_client", f"the simulator lost its connection to the client process of {site} "
                                      f"(no exit code, no OOM kill)")
    return Stopped("dead_client", death_reason(site, code, oom_before, cgroup, others))


def client_workers(proc_dir: Path = Path("/proc")) -> dict[int, str]:
    """pid -> client name of the simulator's worker processes (`simulator_worker ... --client NAME`)."""
    found = {}
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--client" in argv[:-1] and any(b"simulator_worker" in a for a in argv):
            found[int(entry.name)] = argv[argv.index(b"--client") + 1].decode(errors="replace")
    return found


def _oom_death(workers: dict[int, str], oom_before: Optional[int], cgroup: Path, proc_dir: Path,
               ended: Optional[Callable[[], list[tuple[str, int]]]] = None, skip: int = 0) -> Optional[Stopped]:
    """A dead client when the cgroup counted an OOM kill since the run started, or None. The site
    is named from `ended` (the site broker's reaped workers after the first `skip`, which earlier
    starts left), waiting up to OOM_NAME_WAIT_S for the reap, else from the workers /proc no
    longer shows."""
    if not oom_killed_since(oom_before, cgroup):
        return None
    gone: list[str] = []
    deadline = time.monotonic() + OOM_NAME_WAIT_S
    while ended is not None:
        gone = [site for site, code in ended()[skip:] if code == -signal.SIGKILL]
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not gone:
        alive = client_workers(proc_dir)
        gone = [site for pid, site in workers.items() if pid not in alive]
    site, others = (gone[0], tuple(gone[1:])) if gone else ("a site", ())
    return Stopped("dead_client", death_reason(site, -signal.SIGKILL, oom_before, cgroup, others))


def _why_stop(watch: Watch, workers: dict[int, str], oom_before: Optional[int], cgroup: Path, proc_dir: Path,
              oom_watch: bool, ended, skip: int, min_s: float, factor: float) -> Optional[Stopped]:
    """(On each poll of a running simulator.) Why the watch stops it now, or None: a client that
    died or was OOM-killed, a client thread the simulator lost, a stall. Notes the workers /proc
    shows, for naming an OOM-killed one."""
    if watch.died is not None:
        return _death(watch, oom_before, cgroup)
    if oom_watch:
        killed = _oom_death(workers, oom_before, cgroup, proc_dir, ended, skip)
        if killed is not None:
            return killed
        workers.update(client_workers(proc_dir))
    if watch.thread_lost is not None and time.monotonic() - watch.thread_lost[0] > THREAD_LOST_GRACE_S:
        return Stopped("lost_client", f"the simulator lost the thread that drives a client "
                                      f"({watch.thread_lost[1]}) and waited on its result")
    reason = watch.stalled(time.monotonic(), min_s, factor)
    return Stopped("stall", reason) if reason else None


def run_watched(cmd: list[str], min_s: float = STALL_MIN_S, factor: float = STALL_FACTOR,
                poll_s: float = 1.0, cgroup: Path = CGROUP, oom_watch: bool = False,
                proc_dir: Path = Path("/proc"), env: Optional[dict[str, str]] = None,
                on_line: Optional[Callable[[str], None]] = None,
                ended: Optional[Callable[[], list[tuple[str, int]]]] = None) -> tuple[int, Optional[Stopped]]:
    """Run `cmd` in its own session, echoing its output (each line also to `on_line`); (exit code,
    why the watch stopped it or None). A stalled run's, or a run with a dead client's, whole
    process group is killed. With `oom_watch` (a sandbox: the cgroup and /proc are the
    container's) an OOM kill counted during the run is a dead client too, named from `ended` (the
    site broker's reaped workers) where given."""
    oom_before = oom_kills(cgroup)
    skip = len(ended()) if ended is not None else 0  # what earlier starts' workers left
    workers: dict[int, str] = {}
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1, env=env)
    watch = Watch()

    def pump() -> None:
        for line in proc.stdout:
            sys.stdout.write(line)
            watch.saw(line, time.monotonic())
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while True:
        try:
            rc = proc.wait(timeout=poll_s)
            break
        except subprocess.TimeoutExpired:
            stopped = _why_stop(watch, workers, oom_before, cgroup, proc_dir, oom_watch, ended, skip, min_s, factor)
            if stopped is not None:  # the whole tree goes
                _kill_group(proc)
                reader.join(timeout=5)
                return proc.returncode, stopped
    reader.join(timeout=5)
    if watch.died is not None:  # it died and the run still ended by itself (e.g. the last round)
        return rc if rc else -1, _death(watch, oom_before, cgroup)
    return rc, None


def _descendants(root: int, proc_dir: Path = Path("/proc")) -> list[int]:
    """Every process below `root`, from /proc (NVFlare starts each client worker in a session of
    its own, so the simulator's process group does not hold them)."""
    children: dict[int, list[int]] = {}
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_group(proc: subprocess.Popen) -> None:
    """The simulator's whole tree: its process group and every descendant (listed before any is
    killed: an orphan is re-parented and could no longer be told apart)."""
    tree = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def run_with_restart(make_cmd, reset, min_s: float = STALL_MIN_S, factor: float = STALL_FACTOR,
                     poll_s: float = 1.0, oom_watch: bool = False, env: Optional[dict[str, str]] = None,
                     on_line: Optional[Callable[[str], None]] = None,
                     ended: Optional[Callable[[], list[tuple[str, int]]]] = None) -> tuple[int, list[str], Optional[str]]:
    """Run the command `make_cmd()` gives, again from `reset()` when it stalls or loses a client's
    connection (at most MAX_STARTS starts); (exit code of the last start, the reasons it was
    started again, why a client died or None). A run that stalled every time exits with -1; a dead
    client ends it at once (-1 too), never restarted, as does a lost connection on the last start."""
    restarts: list[str] = []
    for start in range(MAX_STARTS):
        rc, stopped = run_watched(make_cmd(), min_s, factor, poll_s, oom_watch=oom_watch, env=env, on_line=on_line,
                                  ended=ended)
        if stopped is None:
            return rc, restarts, None
        if stopped.kind == "dead_client" or (stopped.kind == "lost_client" and start == MAX_STARTS - 1):
            reason = stopped.reason + (" again" if stopped.kind == "lost_client" else "")
            print(f"NVFLARE CLIENT DIED: {reason}; the run is stopped", file=sys.stderr, flush=True)
            return -1, restarts, reason
        what = "stalled" if stopped.kind == "stall" else "lost a client"
        restarts.append(f"{what}: {stopped.reason}")
        print(f"NVFLARE {what.upper()}: {stopped.reason}; killed, starting the run again from scratch", file=sys.stderr, flush=True)
        reset()
    return -1, restarts, None
