"""A client killed by the OOM killer ends the training phase within seconds, as a crash whose
reason names the site and the container's memory limit (before: the NVFlare server waited for
the dead client until the phase timeout, and the row said nothing of memory)."""
from __future__ import annotations

import json
import re

import yaml

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.policies.schema import policy_path
from test_bad_candidates_e2e import client_with, snapshot
from task_campaign import one_seed_profile

HOG = '''    site = flare.get_site_name()
    if site == "site-2":  # a client that pulls far more into memory than the container has
        hog = []
        while True:
            hog.append(np.ones(64 * 2 ** 20, np.uint8))
'''


def test_an_oom_killed_client_is_a_prompt_crash_naming_site_and_limit(sandbox, data_root, tmp_path):
    spec = yaml.safe_load(policy_path("architecture-open").read_text())
    spec["container"]["memory"] = "3g"
    policy = tmp_path / "architecture-open-3g.yaml"
    policy.write_text(yaml.safe_dump(spec))
    snaps = tmp_path / "snapshots"
    snapshot(snaps, "1-hog", "site-2's client exhausts the container's memory",
             {"synthetic/client.py": client_with("    site = flare.get_site_name()\n", HOG)})
    folder = run_campaign(CampaignOptions(task="synthetic", proposer="snapshots", snapshots=snaps, max_candidates=2,
                                          policy=str(policy), name="scale-oom", runs_dir=tmp_path / "runs",
                                          data_root=data_root, profile=one_seed_profile("synthetic", tmp_path)))
    rows = {r.candidate: r for r in RunLog(folder / "results.tsv").rows()}
    assert rows["0000"].status == "keep"
    hog = rows["0001"]
    assert hog.status == "crash", (hog.status, hog.reason)
    # NVFlare logs a death as "Subprocess died ... exit code: -9" or as a broken connection; the
    # kernel may kill another client's process first when memory runs out: the reason names it
    assert re.match(r"train: the client process of site-\d died \(", hog.reason), hog.reason
    assert "the OOM killer killed it at the container's memory limit of 3.0 GiB" in hog.reason
    train = json.loads((folder / "candidates" / "0001" / "resources.json").read_text())["train"]
    baseline = json.loads((folder / "candidates" / "0000" / "resources.json").read_text())["train"]
    assert not train["timed_out"] and train["wall_s"] < baseline["wall_s"] + 60  # seconds, not the timeout
    stats = json.loads((folder / "candidates" / "0001" / "train" / "train_stats.json").read_text())
    assert stats["dead_client"] in hog.reason and "restarts" not in stats  # never started again
