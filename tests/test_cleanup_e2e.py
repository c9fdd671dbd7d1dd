"""`afr-box clean` and `afr-box du` on a real engine: leftovers go, running campaigns stay unless
--force, retention keeps the baseline and the best candidates whole, prunes the bulk of the rest
(the campaign still audits and replays), and removes only the pruned candidates' own images.

Everything touched here is this test's: containers carry a campaign name made here, and the
campaign's candidates are surfaces of this run's own (tests/isolation.py)."""
from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.owner import in_use, owner_label
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.sandbox.images import find_base
from isolation import own_snapshots
from task_campaign import one_seed_profile


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_clean_removes_leftovers_and_leaves_running_campaigns_alone(sandbox):
    client, base = sandbox.images.client, find_base(sandbox.images)
    name = f"truth-clean-{uuid.uuid4().hex[:8]}"
    labels = {"afr.campaign": name}
    dead = client.containers.create(base.id, ["true"], labels={**labels, "afr.owner": "nohost:1:1"})
    gone_owner = client.containers.create(base.id, ["true"], labels={**labels, "afr.owner": owner_label(2**22 + 7)})
    live = client.containers.run(base.id, ["sleep", "300"], detach=True, labels={**labels, "afr.owner": owner_label()})
    legacy = client.containers.run(base.id, ["sleep", "300"], detach=True, labels=labels)  # no owner: an older afr-box
    jail = {"afr.jail": name}  # an agent's jail (orchestrator/external/jail.py) of a session killed with -9, and a live one
    dead_jail = client.containers.create(base.id, ["true"], labels={**jail, "afr.owner": owner_label(2**22 + 7)})
    live_jail = client.containers.run(base.id, ["sleep", "300"], detach=True, labels={**jail, "afr.owner": owner_label()})
    try:
        code, out = cli("clean", "--campaign", name)
        assert code == 0, out
        # "nohost" is another host: its stopped container is a leftover all the same
        assert out.splitlines() == ["removed 2 container(s) and 1 agent jail(s)",
                                    f"left 3 container(s) of running campaign(s) {name} (--force removes them)"]
        left = {c.id for c in client.containers.list(all=True, filters={"label": f"afr.campaign={name}"})}
        assert left == {live.id, legacy.id} and dead.id not in left and gone_owner.id not in left
        assert [c.id for c in client.containers.list(all=True, filters={"label": f"afr.jail={name}"})] == [live_jail.id]
        code, out = cli("clean", "--campaign", name, "--force")
        assert code == 0 and out.splitlines() == ["removed 2 container(s) and 1 agent jail(s)"], out
        assert client.containers.list(all=True, filters={"label": f"afr.campaign={name}"}) == []
        assert client.containers.list(all=True, filters={"label": f"afr.jail={name}"}) == []
    finally:
        for c in (dead, gone_owner, live, legacy, dead_jail, live_jail):
            try:
                c.remove(force=True)
            except Exception:
                pass


@pytest.fixture(scope="module")
def campaign(sandbox, data_root, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    own = own_snapshots("synthetic", tmp_path_factory.mktemp("snapshots"),
                        [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.2}])
    folder = run_campaign(CampaignOptions(task="synthetic", proposer="snapshots", snapshots=own, max_candidates=4,
                                          name=f"truth-retain-{uuid.uuid4().hex[:8]}", runs_dir=runs,
                                          data_root=data_root, profile=one_seed_profile("synthetic", runs)))
    return folder


def test_du_shows_campaigns_images_cache_and_data(campaign, data_root):
    code, out = cli("du", "--runs-dir", campaign.parent, "--data-root", data_root, "--json")
    assert code == 0, out
    usage = json.loads(out)
    entry, = [c for c in usage["campaigns"] if c["name"] == campaign.name]
    models = sum((campaign / f"candidates/{c}/train/model.npz").stat().st_size for c in ("0001", "0002", "0003"))
    assert entry["bytes"] > entry["prunable_bytes"] > models  # prunable: models, predictions, logs of 3 candidates
    assert not entry["in_use"]
    assert any(b["id"] == find_base_id(campaign) for b in usage["base_images"])
    assert usage["candidate_images"]["count"] >= 4 and usage["data"]["tasks"]["synthetic"] > 0
    code, text = cli("du", "--runs-dir", campaign.parent, "--data-root", data_root)
    assert code == 0 and campaign.name in text and "base images:" in text and "prepared data" in text


def find_base_id(folder) -> str:
    return json.loads((folder / "campaign.json").read_text())["base_image_id"]


def test_retention_keeps_the_best_and_prunes_the_rest(campaign, sandbox, data_root):
    rows = {r.candidate: r for r in RunLog(campaign / "results.tsv").rows()}
    assert all(r.status in ("keep", "discard") for r in rows.values()), rows
    best = max(rows.values(), key=lambda r: r.score).candidate  # the baseline is kept anyway
    kept = list(dict.fromkeys(["0000", best]))
    others = sorted(set(rows) - set(kept))
    runs = campaign.parent

    code, out = cli("clean", "--runs-dir", runs, "--older-than", "1h", "--keep-best", "1", "--campaign", campaign.name)
    assert code == 0 and f"{campaign.name}: left alone, active" in out, out  # it ran minutes ago
    with in_use(campaign):  # a repeat (say) is writing there now
        code, out = cli("clean", "--runs-dir", runs, "--keep-best", "1", "--campaign", campaign.name, "--images")
    assert code == 0 and f"{campaign.name}: left alone, in use now" in out, out
    assert all((campaign / f"candidates/{c}/train/model.npz").is_file() for c in rows)

    code, out = cli("clean", "--runs-dir", runs, "--keep-best", "1", "--campaign", campaign.name, "--images")
    assert code == 0, out
    # five files each: model, predictions, and the three phase logs
    assert f"{campaign.name}: kept {', '.join(kept)} whole; pruned {5 * len(others)} file(s)" in out, out
    assert f"removed {len(others)} candidate image(s)" in out, out
    for cand in kept:  # whole
        assert (campaign / f"candidates/{cand}/train/model.npz").is_file()
        assert (campaign / f"candidates/{cand}/infer/predictions").is_dir()
        assert sandbox.images.image_info(rows[cand].image_id) is not None
    for cand in others:  # the bulk gone, the evidence kept
        record = campaign / f"candidates/{cand}"
        assert not (record / "train/model.npz").exists() and not (record / "infer/predictions").exists()
        assert not (record / "train.log").exists()
        for evidence in ("record.json", "score/score.json", "surface.diff", "containers.json", "image.json"):
            assert (record / evidence).is_file(), evidence
        assert sandbox.images.image_info(rows[cand].image_id) is None  # its own image
    pruned, = json.loads((campaign / "pruned.json").read_text())
    assert pruned["kept"] == kept and f"candidates/{others[0]}/train/model.npz" in pruned["removed"]

    # the pruned campaign still holds up: its audit passes, and a pruned candidate replays exactly
    code, out = cli("audit", campaign, "--no-images")
    assert code == 0, out
    code, out = cli("replay", campaign, others[0], "--data-root", data_root)
    assert code == 0 and out.strip().endswith("match") and "image rebuilt from base + snapshot" in out, out


def test_bad_age_is_one_line(tmp_path):
    code, out = cli("clean", "--runs-dir", tmp_path, "--older-than", "soon", "--campaign", "truth-none")
    assert code == 2 and out.strip() == ("error: --older-than 'soon': expected a number and a unit, e.g. 30m, 12h, "
                                         "7d or 2w")
