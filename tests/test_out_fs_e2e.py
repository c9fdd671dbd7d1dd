"""A container's /out and output are bounded by the kernel and the engine, not by a watcher:
writes past out_size or out_inodes fail inside the container, deep trees, links and odd names
come back refused or escaped, a log flood leaves a bounded tail, and no mount outlives its run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from afr_box.policies.schema import ContainerLimits
from afr_box.sandbox.docker import out_fs
from afr_box.sandbox.outputs import check_outputs
from afr_box.sandbox.spec import Mount, RunSpec, writable_out

LIMITS = ContainerLimits(out_size="8m", out_inodes=128, log_size="1m")


@pytest.fixture(scope="module")
def base_id(sandbox):
    from afr_box.sandbox.images import find_base

    return find_base(sandbox.images).id


def run(sandbox, base_id, tmp_path: Path, script: str, limits: ContainerLimits = LIMITS):
    out = writable_out(tmp_path / "out", limits.user)
    spec = RunSpec(image=base_id, command=["python3", "-c", script], mounts=[Mount(out, "/out", read_only=False)],
                   limits=limits, timeout_s=120, labels={"afr.campaign": "hardening-out-fs-test"})
    result = sandbox.executor.run(spec, tmp_path / "run.log")
    return result, out, (tmp_path / "run.log").read_text()


def our_mounts() -> list[str]:
    """This process's /out mounts (named <pid>-...): another test worker's may be mounted meanwhile."""
    mine = tuple(f"{out_fs.mounts_dir()}/{pid}-" for pid in (os.getpid(), 999999999))  # 999999999: the orphan test's
    return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(mine)]


def test_writes_past_out_size_fail_inside_the_container(sandbox, base_id, tmp_path):
    result, out, log = run(sandbox, base_id, tmp_path, """
import errno
written = 0
try:
    for i in range(10):
        with open(f"/out/fill-{i}.bin", "wb") as f:
            for _ in range(3):
                f.write(b"x" * 2**20); written += 2**20
except OSError as exc:
    print("REFUSED", errno.errorcode[exc.errno], written)
""")
    assert result.exit_code == 0 and "REFUSED ENOSPC" in log, log
    copied = sum(p.stat().st_size for p in out.iterdir())
    assert 7 * 2**20 < copied <= 8 * 2**20  # the host got at most out_size
    assert our_mounts() == []


def test_an_inode_flood_stops_at_out_inodes(sandbox, base_id, tmp_path):
    result, out, log = run(sandbox, base_id, tmp_path, """
import os
made = 0
try:
    for i in range(100_000):
        os.close(os.open(f"/out/{i}", os.O_CREAT | os.O_WRONLY)); made += 1
except OSError as exc:
    print("REFUSED", exc.strerror, made)
""")
    assert "REFUSED No space left on device" in log, log
    assert len(list(out.iterdir())) < 128


def test_a_deep_tree_a_link_and_an_odd_name_come_back_refused_or_escaped(sandbox, base_id, tmp_path):
    deep, _, _ = run(sandbox, base_id, tmp_path / "deep", """
import os
path = "/out/" + "/".join(["d" * 200] * 30)   # longer than PATH_MAX: a walker would skip it
os.makedirs(path)
open(os.path.join(path, "x"), "wb").write(b"x" * 1000)
""")
    assert deep.outputs_refused.startswith("d") and "nested deeper than the harness writes" in deep.outputs_refused
    link, _, _ = run(sandbox, base_id, tmp_path / "link", "import os; os.symlink('/etc/passwd', '/out/model.npz')")
    assert link.outputs_refused == "model.npz is a symlink (to '/etc/passwd'); outputs must be plain files"
    odd, out, _ = run(sandbox, base_id, tmp_path / "odd", "open(b'/out/stats-\\xe9.json', 'wb').write(b'{}')")
    assert odd.outputs_refused == "" and os.listdir(os.fsencode(out)) == [b"stats-\xe9.json"]
    assert check_outputs(out, "train", []).startswith("unexpected file stats-\\xe9.json")


def test_a_log_flood_leaves_a_bounded_inert_tail(sandbox, base_id, tmp_path):
    result, _, log = run(sandbox, base_id, tmp_path, """
import sys
for i in range(50_000):
    sys.stdout.write(f"flood {i} " + "x" * 1000 + "\\n")
print("\\x1b]0;PWNED\\x07 the last line")
""")
    assert result.exit_code == 0
    assert (tmp_path / "run.log").stat().st_size <= 2**20  # 50 MB written, at most log_size kept by the engine
    assert not log.startswith("flood 0 ")  # the oldest output went, the latest stayed
    assert log.rstrip().endswith("\\x1b]0;PWNED\\x07 the last line") and "\x1b" not in log
    assert result.log_tail.rstrip().endswith("the last line")


def test_the_mount_of_a_killed_orchestrator_is_released(tmp_path):
    orphan = out_fs.mounts_dir() / "999999999-orphan"
    orphan.mkdir()
    out_fs._mount_tmpfs(orphan, 2**20, 64, "10001:10001")
    assert str(orphan) in our_mounts()
    assert out_fs.release_stale_mounts() >= 1
    assert str(orphan) not in our_mounts() and not orphan.exists()
