"""The held-out split: deterministic, disjoint, beside the prepared data (never changing it);
and end to end, a campaign that scores only the validation part and `afr-box heldout`."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.repeats import Repeat, append_repeat
from afr_box.orchestrator.records.runlog import Row, RunLog
from afr_box.profiles.schema import profile_path
from afr_box.reports.findings import (DIRECTION_ONLY, DOES_NOT, SURVIVES, gain_survives, heldout_markdown,
                                      heldout_table)
from afr_box.tasks.shared.prepared import heldout_view, verify_prepared


def test_split_is_deterministic_disjoint_and_complete(data_root):
    folder = data_root / "synthetic"
    before = verify_prepared(folder)
    view = heldout_view(folder, 0.3)
    assert view.name == "synthetic.heldout-0.3" and view.parent == folder.parent
    assert verify_prepared(folder) == before  # the prepared folder is untouched
    manifest = verify_prepared(view)
    for site in before["sites"]:
        n = before["sites"][site]["test"]
        val, held = (np.load(view / part / f"{site}.npy") for part in ("validation", "heldout"))
        assert len(held) == round(n * 0.3) == manifest["sites"][site]["heldout"]
        assert sorted(set(val) | set(held)) == list(range(n)) and not set(val) & set(held)
    files = json.loads((view / "manifest.json").read_text())["files"]
    assert heldout_view(folder, 0.3) == view and json.loads((view / "manifest.json").read_text())["files"] == files


def test_heldout_campaign_scores_validation_then_heldout(sandbox, data_root, tmp_path):
    spec = yaml.safe_load(profile_path("synthetic").read_text())
    spec["heldout_fraction"] = 0.3
    spec["noise_seeds"] = 1  # the noise floor has tests of its own (test_finish_e2e)
    profile_file = tmp_path / "synthetic-heldout.yaml"
    profile_file.write_text(yaml.safe_dump(spec))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["campaign", "synthetic", "--profile", str(profile_file), "--proposer", "hpo",
                                       "--max-candidates", "2", "--name", "ho", "--runs-dir", str(runs),
                                       "--data-root", str(data_root), "--quiet"])
    assert result.exit_code == 0, result.output
    folder = runs / "ho"
    infer = json.loads((folder / "candidates/0000/containers.json").read_text())["infer"]
    assert any(m["target"] == "/rows" and m["source"].endswith("synthetic.heldout-0.3/validation")
               for m in infer["mounts"])  # row ids applied to the prepared inputs: no copy
    assert any(m["target"] == "/data" and m["source"].endswith("/synthetic/test_inputs") for m in infer["mounts"])
    result = CliRunner().invoke(main, ["heldout", str(folder), "--candidates", "baseline,0001", "--seeds", "42,43",
                                       "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    lines = (folder / "heldout.tsv").read_text().splitlines()[1:]
    assert sorted((line.split("\t")[0], line.split("\t")[1]) for line in lines) == \
        [("0000", "42"), ("0000", "43"), ("0001", "42"), ("0001", "43")]
    score = json.loads((folder / "heldout/candidates/0000-s42/containers.json").read_text())["score"]
    assert any(m["target"] == "/labels" and m["source"].endswith("/synthetic/test_labels") for m in score["mounts"])
    assert any(m["target"] == "/rows" and m["source"].endswith("synthetic.heldout-0.3/heldout") for m in score["mounts"])
    held = [float(line.split("\t")[2]) for line in lines]
    assert all(0.0 <= s <= 1.0 for s in held) and not np.isnan(held).any()
    report = (folder / "report.md").read_text()
    assert "## Held-out check" in report and "30% of each site's evaluation set was held out" in report
    # the verdict the table shows is the one the held-out scores give (recomputed here from heldout.tsv)
    held_by = {}
    for line in lines:
        cand, seed, score = line.split("\t")[:3]
        held_by.setdefault(cand, {})[int(seed)] = float(score)
    diffs = [held_by["0001"][s] - held_by["0000"][s] for s in (42, 43)]
    mean = sum(diffs) / 2
    half = 12.706 * abs(diffs[0] - diffs[1]) / 2  # t(0.975, 1) * s / sqrt(2), s = |d1 - d2| / sqrt(2)
    verdict = DOES_NOT if mean <= 0 else SURVIVES if half < abs(mean) else DIRECTION_ONLY
    row_0001 = next(r for r in (folder / "heldout.md").read_text().splitlines() if r.startswith("| 0001 |"))
    assert row_0001.endswith(f"| {mean:+.4f} | {half:.4f} | {verdict} |"), row_0001


@pytest.mark.parametrize("diff, half, higher, verdict", [
    (+0.02, 0.01, True, SURVIVES),         # a gain whose interval excludes 0
    (+0.02, 0.03, True, DIRECTION_ONLY),   # a gain whose interval includes 0
    (+0.02, None, True, DIRECTION_ONLY),   # one seed: no interval, the direction only
    (0.0, 0.0, True, DOES_NOT),            # no change is no gain
    (-0.02, 0.01, True, DOES_NOT),         # a loss
    (-0.02, 0.01, False, SURVIVES),        # lower is better: a drop is the gain
    (+0.02, 0.01, False, DOES_NOT),
    (-0.02, 0.02, False, DIRECTION_ONLY),  # half-width equal to the gain: the interval touches 0
])
def test_gain_survives_verdicts(diff, half, higher, verdict):
    assert gain_survives(diff, half, higher) == verdict


def _logged(folder, scores: dict[str, float]):
    log = RunLog(folder / "results.tsv")
    for i, (cand, score) in enumerate(scores.items()):
        log.append(Row(commit=f"{i:012x}", score=score, runtime_seconds=1.0, budget="b", status="keep",
                       target="synthetic", description=f"c{cand}", artifacts=f"candidates/{cand}", candidate=cand,
                       image_id="sha256:0", surface_hash=f"{i:064x}", policy="scalar-hpo", seed=42,
                       proposer="baseline" if i == 0 else "hpo"))


def test_heldout_table_from_hand_written_scores(tmp_path):
    """Baseline and three candidates over three seeds: a robust gain, a noisy gain, a loss."""
    _logged(tmp_path, {"0000": 0.80, "0001": 0.85, "0002": 0.83, "0003": 0.79})
    held = {"0000": [0.70, 0.72, 0.71], "0001": [0.75, 0.76, 0.77], "0002": [0.76, 0.68, 0.75],
            "0003": [0.69, 0.70, 0.70]}
    for cand, scores in held.items():
        for seed, score in zip((42, 43, 44), scores):
            append_repeat(tmp_path / "heldout.tsv", Repeat(cand, seed, score, "scored", 1.0, "sha256:0"))
    table = {r["candidate"]: r for r in heldout_table(tmp_path, higher_is_better=True)}
    assert table["0000"]["label"] == "0000 (baseline)" and table["0000"]["survives"] == "-"
    assert table["0001"]["diff"] == "+0.0500" and table["0001"]["survives"] == SURVIVES
    assert table["0002"]["diff"] == "+0.0200" and table["0002"]["survives"] == DIRECTION_ONLY
    assert table["0003"]["diff"] == "-0.0133" and table["0003"]["survives"] == DOES_NOT
    # the campaign's own run is the validation score of its seed (42)
    assert table["0001"]["validation"] == "0.8500" and table["0001"]["mean"] == "0.7600"
    # lower-is-better reads the same differences the other way round
    lower = {r["candidate"]: r["survives"] for r in heldout_table(tmp_path, higher_is_better=False)}
    assert lower == {"0000": "-", "0001": DOES_NOT, "0002": DOES_NOT, "0003": DIRECTION_ONLY}
    md = heldout_markdown(tmp_path, True)
    assert "| 0002 | 3 | 0.8300 | 0.7300 |" in md and md.rstrip().endswith(f"| {DOES_NOT} |")
