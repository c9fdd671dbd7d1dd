"""End to end through a real Docker engine: a heart campaign whose every candidate is built
into its own image, trained, inferred and scored in separate hardened containers."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.cli import main
from afr_box.orchestrator.errors import CampaignError
from afr_box.orchestrator.records.runlog import COLUMNS, RunLog
from isolation import containers_of, own_snapshots, run_name
from task_campaign import assert_score_recomputed, one_seed_profile

PHASES = {"gate", "build", "train", "infer", "score", "verify"}
# The untouched heart baseline under the default profile, which scores the validation part (70%) of
# each site's test set (heldout_fraction 0.3); on the whole test set it is README's 0.7304160064342649
# (tests/test_base_image_e2e.py). Any change to either must be deliberate.
HEART_BASELINE = 0.7274434580002411


@pytest.fixture(scope="module")
def heart_campaign(sandbox, heart_ready, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    opts = CampaignOptions(task="heart", proposer="hpo", max_candidates=3, name=run_name("e2e-heart"),
                           runs_dir=runs, data_root=heart_ready)
    return run_campaign(opts)


def test_campaign_logs_baseline_and_hpo_candidates(heart_campaign):
    rows = RunLog(heart_campaign / "results.tsv").rows()
    header = (heart_campaign / "results.tsv").read_text().splitlines()[0].split("\t")
    assert header[:8] == ["commit", "score", "runtime_seconds", "budget", "status", "target", "description", "artifacts"]
    assert tuple(header) == COLUMNS
    assert [r.candidate for r in rows] == ["0000", "0001", "0002"]
    assert rows[0].proposer == "baseline" and rows[0].status == "keep"
    assert {r.proposer for r in rows[1:]} == {"hpo"}
    assert all(r.status in ("keep", "discard") for r in rows), [(r.status, r.reason) for r in rows]
    # The logistic-regression baseline on the real heart data: bit-reproducible on CPU
    assert rows[0].score == HEART_BASELINE
    for row in rows:  # every score is the metric recomputed here from the saved predictions and labels
        assert_score_recomputed(heart_campaign, row)
    report = (heart_campaign / "report.md").read_text()
    assert "| baseline score | 0.727443 (candidate 0000) |" in report and "per-client mean" in report


def test_each_record_proves_what_ran(heart_campaign):
    for row in RunLog(heart_campaign / "results.tsv").rows():
        folder = heart_campaign / row.artifacts
        record = json.loads((folder / "record.json").read_text())
        image = json.loads((folder / "image.json").read_text())
        assert image["id"] == row.image_id == record["image_id"]
        assert image["labels"]["afr.surface-hash"] == row.surface_hash
        assert set(json.loads((folder / "timings.json").read_text())) == PHASES
        verification = json.loads((folder / "verification.json").read_text())
        assert verification["ok"], verification
        # the data check after a candidate is by identity (cheap), and says so
        # (of the prepared folder and of its held-out view's row ids)
        assert [c["kind"] for c in verification["data_checks"]] == ["identity", "identity"]
        assert {name: ok for name, ok, _ in verification["checks"]}["data_unchanged"] is True
        resources = json.loads((folder / "resources.json").read_text())
        for phase in ("train", "infer", "score"):  # peak memory split into anonymous and page cache
            assert resources[phase]["peak_anon_bytes"] > 0 and resources[phase]["peak_cache_bytes"] is not None
        # each site's local compute, counted outside the candidate (scalar-hpo holds no bound: below)
        score = json.loads((folder / "score" / "score.json").read_text())
        assert sorted(score["site_cpu_s"]) == ["site-1", "site-2", "site-3", "site-4"]
        assert 0 < max(score["site_cpu_s"].values()) and score["compute_bound_s"] is None
        containers = json.loads((folder / "containers.json").read_text())
        assert set(containers) == {"train", "infer", "score"}
        for phase, c in containers.items():
            assert c["read_only"] and c["network_mode"] == "none" and c["cap_drop"] == ["ALL"]
            assert "no-new-privileges" in c["security_opt"] and not c["user"].startswith("0")
            writable = [m["target"] for m in c["mounts"] if not m["read_only"]]
            assert writable == ["/out"], (phase, writable)
        mounts = {p: {m["target"]: m["source"] for m in c["mounts"]} for p, c in containers.items()}
        # training sees training data only; inference test inputs only; labels only in the scorer
        assert mounts["train"]["/data"].endswith("/heart/train")
        # the search scores the validation part of each site's test set (profile heldout_fraction 0.3)
        # (the view's row ids, applied to the prepared test data: nothing is copied)
        assert mounts["infer"]["/data"].endswith("/heart/test_inputs")
        assert mounts["score"]["/labels"].endswith("/heart/test_labels")
        assert mounts["infer"]["/rows"] == mounts["score"]["/rows"] and mounts["infer"]["/rows"].endswith(
            "/heart.heldout-0.3/validation")
        assert not any("test_labels" in s for p in ("train", "infer") for s in mounts[p].values())
        assert containers["score"]["image"] != row.image_id  # the scorer runs the base image
        # scalar-hpo: the image holds the knobs file and nothing else from the candidate
        assert sorted(p.relative_to(folder / "surface").as_posix()
                      for p in (folder / "surface").rglob("*") if p.is_file()) == ["heart/knobs.yaml"]


def test_no_compute_bound_is_calibrated_where_the_policy_changes_no_code(heart_campaign):
    # scalar-hpo: the trusted client trains the knob's local_steps, so no baseline is trained at the
    # most to bound it (that is for policies whose candidates change client code: test_security_e2e)
    [entry] = json.loads((heart_campaign / "compute.json").read_text())
    assert entry["bound_s"] is None and entry["how"].startswith("not needed: policy scalar-hpo changes data files only")
    assert not (heart_campaign / "compute").exists()


def test_campaign_start_rehashes_the_data_in_full(heart_campaign):
    [started] = json.loads((heart_campaign / "data_checks.json").read_text())
    assert started["after_candidate"] == "identity" and started["resumed"] is False
    # the prepared folder and its held-out view
    assert [c["kind"] for c in started["checks"]] == ["full", "full"] and started["checks"][0]["files"] > 0


def test_audit_rehashes_the_data_and_finds_a_flipped_byte(heart_campaign, heart_ready, tmp_path):
    import os
    import shutil

    data = tmp_path / "afr-data"
    shutil.copytree(heart_ready / "heart", data / "heart")
    ok = CliRunner().invoke(main, ["audit", str(heart_campaign), "--no-images", "--data-root", str(data)])
    assert ok.exit_code == 0, ok.output
    target = data / "heart" / "train" / "site-2" / "x.npy"
    before = os.stat(target)
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0x01
    target.write_bytes(bytes(raw))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime set back: the hash still tells
    bad = CliRunner().invoke(main, ["audit", str(heart_campaign), "--no-images", "--data-root", str(data)])
    assert bad.exit_code == 1 and "PROBLEM  data:" in bad.output and "train/site-2/x.npy" in bad.output, bad.output


def test_hpo_changes_only_knobs(heart_campaign):
    base = yaml.safe_load((heart_campaign / "candidates/0000/surface/heart/knobs.yaml").read_text())
    for cand in ("0001", "0002"):
        knobs = yaml.safe_load((heart_campaign / f"candidates/{cand}/surface/heart/knobs.yaml").read_text())
        assert knobs != base and set(knobs) >= set(base)
        assert (heart_campaign / f"candidates/{cand}/surface.diff").read_text().startswith("--- baseline/heart/knobs.yaml")


def test_no_containers_left(heart_campaign, sandbox):
    assert containers_of(sandbox.images.client, heart_campaign) == []


def test_baseline_is_bit_reproducible_and_image_reused(heart_campaign, sandbox, heart_ready, tmp_path):
    first = RunLog(heart_campaign / "results.tsv").rows()[0]
    again = run_campaign(CampaignOptions(task="heart", proposer="baseline", max_candidates=1, name=run_name("e2e-again"),
                                         runs_dir=tmp_path, data_root=heart_ready,
                                         profile=one_seed_profile("heart", tmp_path)))  # row 0 only: no noise runs
    second = RunLog(again / "results.tsv").rows()[0]
    assert second.score == first.score
    assert second.image_id == first.image_id
    assert json.loads((again / "candidates/0000/image.json").read_text())["built_now"] is False
    w1 = np.load(heart_campaign / "candidates/0000/train/model.npz")
    w2 = np.load(again / "candidates/0000/train/model.npz")
    assert w1.files == w2.files and all(np.array_equal(w1[k], w2[k]) for k in w1.files)


def test_existing_campaign_name_needs_resume(heart_campaign, heart_ready):
    opts = CampaignOptions(task="heart", name=heart_campaign.name, runs_dir=heart_campaign.parent, data_root=heart_ready)
    with pytest.raises(CampaignError, match="--resume"):
        run_campaign(opts)


def test_replay_reproduces_the_logged_score(heart_campaign, heart_ready):
    from afr_box.orchestrator.findings.replay import replay

    result = replay(heart_campaign, "0001", heart_ready)
    assert result.image_reused and result.match, result
    assert result.replay_score == RunLog(heart_campaign / "results.tsv").rows()[1].score


def test_replay_of_an_altered_snapshot_is_refused(heart_campaign, heart_ready, tmp_path):
    import shutil

    from afr_box.orchestrator.findings.replay import ReplayError, replay

    copy = tmp_path / "campaign"
    shutil.copytree(heart_campaign, copy, ignore=shutil.ignore_patterns("train", "infer", "score", "replays"))
    knobs = copy / "candidates/0002/surface/heart/knobs.yaml"
    knobs.write_text(knobs.read_text().replace("local_steps:", "local_steps: 250 #"))
    with pytest.raises(ReplayError, match="hash mismatch"):
        replay(copy, "0002", heart_ready)


def test_replay_on_a_lost_base_of_an_older_harness_is_refused_clearly(heart_campaign, heart_ready, tmp_path):
    """A campaign made by an afr-box whose harness had another in-container interface (api 1), whose
    base is not on this engine, cannot be rebuilt faithfully on today's base: one clear line."""
    import shutil

    copy = tmp_path / "old-campaign"
    shutil.copytree(heart_campaign, copy, ignore=shutil.ignore_patterns("train", "infer", "score", "replays"))
    meta = json.loads((copy / "campaign.json").read_text())
    meta.update(base_image_id="sha256:" + "1" * 64, harness_api="1")
    (copy / "campaign.json").write_text(json.dumps(meta))
    result = CliRunner().invoke(main, ["replay", str(copy), "0001", "--data-root", str(heart_ready)])
    assert result.exit_code == 2, result.output
    line, = result.output.strip().splitlines()
    assert "harness api 1" in line and "cannot rebuild its candidates faithfully" in line and "load that base" in line
    assert not (copy / "replays").exists()


def test_bundle_replays_after_the_image_is_deleted(heart_ready, sandbox, tmp_path):
    """The image deleted here is this run's own (a surface no other test proposes): the heart
    campaign's images, which other tests reuse, stay."""
    own = own_snapshots("heart", tmp_path / "snapshots", [{"lr": 0.02}])
    folder = run_campaign(CampaignOptions(task="heart", proposer="snapshots", snapshots=own, max_candidates=2,
                                          name=run_name("truth-bundle"), runs_dir=tmp_path / "campaign", data_root=heart_ready,
                                          profile=one_seed_profile("heart", tmp_path)))
    bundle = tmp_path / "heart-0001.tar"
    result = CliRunner().invoke(main, ["export", str(folder), "0001", "-o", str(bundle)])
    assert result.exit_code == 0, result.output
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
    assert {"bundle.json", "layer.tar", "campaign.json", "record/record.json", "surface/heart/knobs.yaml"} <= names
    row = RunLog(folder / "results.tsv").rows()[1]
    assert json.loads((folder / row.artifacts / "image.json").read_text())["built_now"]  # nobody else's image
    sandbox.images.client.images.remove(row.image_id, force=True)
    result = CliRunner().invoke(main, ["replay", "--bundle", str(bundle), "--runs-dir", str(tmp_path / "runs"),
                                       "--data-root", str(heart_ready)])
    assert result.exit_code == 0, result.output
    assert "image rebuilt from base + snapshot" in result.output and result.output.strip().endswith("match")
    assert f"replayed {row.score!r}" in result.output

    # a bundle whose snapshot was altered after export is refused before anything runs
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(bundle) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "surface/heart/knobs.yaml":
                data += b"local_steps: 250\n"
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    result = CliRunner().invoke(main, ["replay", "--bundle", str(tampered), "--runs-dir", str(tmp_path / "runs2"),
                                       "--data-root", str(heart_ready)])
    assert result.exit_code == 2 and "hash mismatch" in result.output
