"""Who owns a container or a campaign folder, and what retention keeps: pure pieces, no engine."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from afr_box.orchestrator.campaign.cleanup import HEAVY, parse_age, plan_prune, prune
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.owner import busy, folder_id, in_use, owner_alive, owner_label
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.profiles.schema import profile_path


def test_the_owner_of_a_container_is_alive_only_while_its_process_runs():
    assert owner_alive(owner_label()) is True
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    label = owner_label(child.pid)
    assert owner_alive(label) is True
    child.kill()
    child.wait()
    assert owner_alive(label) is False
    host, pid, ticks = owner_label().split(":")
    assert owner_alive(f"{host}:{pid}:{int(ticks) + 1}") is False  # the same pid, another process (reused)
    assert owner_alive(f"{socket.gethostname()}-elsewhere:{pid}:{ticks}") is None  # another host: unknown


def test_folder_ids_tell_same_named_campaigns_apart(tmp_path):
    a, b = tmp_path / "a" / "heart", tmp_path / "b" / "heart"
    assert folder_id(a) != folder_id(b) and folder_id(a) == folder_id(tmp_path / "a" / "." / "heart")


def test_a_folder_is_busy_while_someone_holds_it(tmp_path):
    assert not busy(tmp_path)
    with in_use(tmp_path):
        assert busy(tmp_path)
        with in_use(tmp_path):  # several users at once
            assert busy(tmp_path)
    assert not busy(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", f"""
from afr_box.orchestrator.records.owner import in_use
import sys, time
with in_use({str(tmp_path)!r}):
    print("held", flush=True)
    time.sleep(30)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert busy(tmp_path)
    holder.kill()  # the kernel drops the lock of a killed process
    holder.wait()
    assert not busy(tmp_path)


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600),
                                           ("1.5h", 5400)])
def test_ages(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["soon", "7", "d", "-1d", "7y"])
def test_bad_ages_say_what_is_expected(text):
    with pytest.raises(CampaignError, match="expected a number and a unit"):
        parse_age(text)


def _campaign(tmp_path, scores: dict[str, tuple[str, float | None]]) -> CampaignFolder:
    folder = CampaignFolder(tmp_path / "c")
    folder.path.mkdir()
    folder.meta.write_text("{}")
    folder.profile.write_text(profile_path("heart").read_text())
    log = RunLog(folder.results)
    for i, (cand, (status, score)) in enumerate(scores.items()):
        log.append(Row(commit="c", score=score, runtime_seconds=1, budget="b", status=status, target="heart",
                       description="d", artifacts=f"candidates/{cand}", candidate=cand, image_id=f"sha256:{cand}",
                       surface_hash="s", policy="scalar-hpo", seed=42, proposer="baseline" if i == 0 else "hpo"))
        _record(folder.path / "candidates" / cand, f"sha256:{cand}")
    _record(folder.path / "repeats" / "candidates" / "0002-s43", "sha256:0002")  # a repeat of a pruned one
    _record(folder.path / "replays" / "0001-1" / "candidates" / "0001", "sha256:0001")  # a replay of a kept one
    return folder


def _record(path, image_id):
    (path / "train").mkdir(parents=True)
    (path / "train" / "model.npz").write_bytes(b"m" * 1000)
    (path / "infer" / "predictions").mkdir(parents=True)
    (path / "infer" / "predictions" / "site-1.npy").write_bytes(b"p" * 100)
    for log in ("train.log", "infer.log", "score.log"):
        (path / log).write_text("log\n")
    (path / "image.json").write_text(json.dumps({"id": image_id}))
    (path / "record.json").write_text("{}")


def test_retention_keeps_the_baseline_and_the_best_and_prunes_the_rest(tmp_path):
    folder = _campaign(tmp_path, {"0000": ("keep", 0.70), "0001": ("keep", 0.80), "0002": ("discard", 0.75),
                                  "0003": ("crash", None), "0004": ("violation", 0.99)})
    plan = plan_prune(folder, 1, None, force=False)
    assert plan.kept == ["0000", "0001"]  # a violation's 0.99 is no score
    pruned = {p.relative_to(folder.path).as_posix() for p in plan.files}
    for cand in ("0002", "0003", "0004"):
        assert {f"candidates/{cand}/{rel}" for rel in HEAVY} <= pruned
    # reruns keep their scores (repeats.tsv, their record.json) but not copies of the bulk, even of kept ones
    assert {f"repeats/candidates/0002-s43/{rel}" for rel in HEAVY} | \
        {f"replays/0001-1/candidates/0001/{rel}" for rel in HEAVY} <= pruned
    assert not any(p.startswith(("candidates/0000", "candidates/0001")) for p in pruned)
    assert plan.images_pruned == {"sha256:0002", "sha256:0003", "sha256:0004"}
    assert plan.images_kept == {"sha256:0000", "sha256:0001"}
    assert plan.bytes == 5 * (1000 + 100 + 3 * 4)
    prune(plan)
    assert not (folder.path / "candidates/0002/train/model.npz").exists()
    assert (folder.path / "candidates/0002/record.json").is_file() and (folder.path / "candidates/0002/image.json").is_file()
    assert (folder.path / "candidates/0001/train/model.npz").is_file()
    history = json.loads((folder.path / "pruned.json").read_text())
    assert history[0]["kept"] == ["0000", "0001"] and history[0]["bytes"] == plan.bytes
    assert plan_prune(folder, 1, None, force=False).files == []  # nothing left to prune


def test_retention_never_prunes_a_folder_in_use_or_a_recent_one(tmp_path):
    folder = _campaign(tmp_path, {"0000": ("keep", 0.70), "0001": ("discard", 0.60)})
    with in_use(folder.path):
        plan = plan_prune(folder, 0, None, force=False)
        assert plan.skipped.startswith("in use now") and plan.files == []
        assert plan_prune(folder, 0, None, force=True).files  # --force
    assert plan_prune(folder, 0, 3600, force=False).skipped.startswith("active")
    old = os.path.getmtime(folder.results) - 7200
    for path in (folder.meta, folder.results):
        os.utime(path, (old, old))
    assert plan_prune(folder, 0, 3600, force=False).files
