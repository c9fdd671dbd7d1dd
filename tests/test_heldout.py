"""The held-out split: deterministic, disjoint, beside the prepared data (never changing it);
and end to end, a campaign that scores only the validation part and `afr-box heldout`."""
from __future__ import annotations

import json

import numpy as np
import yaml
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.profiles.schema import profile_path
from afr_box.tasks.shared.prepared import heldout_view, load_npz, verify_prepared


def test_split_is_deterministic_disjoint_and_complete(data_root):
    folder = data_root / "synthetic"
    before = verify_prepared(folder)
    view = heldout_view(folder, 0.3)
    assert view.name == "synthetic.heldout-0.3" and view.parent == folder.parent
    assert verify_prepared(folder) == before  # the prepared folder is untouched
    manifest = verify_prepared(view)
    for site in before["sites"]:
        x = load_npz(folder / "test_inputs" / f"{site}.npz")["x"]
        xv = load_npz(view / "test_inputs" / f"{site}.npz")["x"]
        xh = load_npz(view / "heldout_inputs" / f"{site}.npz")["x"]
        yv = load_npz(view / "test_labels" / f"{site}.npz")["y"]
        yh = load_npz(view / "heldout_labels" / f"{site}.npz")["y"]
        assert len(xv) == len(yv) and len(xh) == len(yh) and len(xv) + len(xh) == len(x)
        assert len(xh) == round(len(x) * 0.3) == manifest["sites"][site]["heldout"]
        rows = {r.tobytes() for r in x}
        assert {r.tobytes() for r in xv} | {r.tobytes() for r in xh} == rows
        assert not {r.tobytes() for r in xv} & {r.tobytes() for r in xh}
    files = json.loads((view / "manifest.json").read_text())["files"]
    assert heldout_view(folder, 0.3) == view and json.loads((view / "manifest.json").read_text())["files"] == files


def test_heldout_campaign_scores_validation_then_heldout(sandbox, data_root, tmp_path):
    spec = yaml.safe_load(profile_path("synthetic").read_text())
    spec["heldout_fraction"] = 0.3
    profile_file = tmp_path / "synthetic-heldout.yaml"
    profile_file.write_text(yaml.safe_dump(spec))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["campaign", "synthetic", "--profile", str(profile_file), "--proposer", "hpo",
                                       "--max-candidates", "2", "--name", "ho", "--runs-dir", str(runs),
                                       "--data-root", str(data_root), "--quiet"])
    assert result.exit_code == 0, result.output
    folder = runs / "ho"
    infer = json.loads((folder / "candidates/0000/containers.json").read_text())["infer"]
    assert any("synthetic.heldout-0.3/test_inputs" in m["source"] for m in infer["mounts"])
    result = CliRunner().invoke(main, ["heldout", str(folder), "--candidates", "baseline,0001", "--seeds", "42,43",
                                       "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    lines = (folder / "heldout.tsv").read_text().splitlines()[1:]
    assert sorted((line.split("\t")[0], line.split("\t")[1]) for line in lines) == \
        [("0000", "42"), ("0000", "43"), ("0001", "42"), ("0001", "43")]
    score = json.loads((folder / "heldout/candidates/0000-s42/containers.json").read_text())["score"]
    assert any(m["target"] == "/labels" and m["source"].endswith("heldout_labels") for m in score["mounts"])
    held = [float(line.split("\t")[2]) for line in lines]
    assert all(0.0 <= s <= 1.0 for s in held) and not np.isnan(held).any()
    report = (folder / "report.md").read_text()
    assert "## Held-out check" in report and "30% of each site's evaluation set was held out" in report
    assert "gain survives" in (folder / "heldout.md").read_text()
