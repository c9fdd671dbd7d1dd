"""`afr-box bench`: the sandboxed candidate against the bare NVFlare run, with a real first build on a
surface of the bench's own; the baseline's image (which campaigns and other tests reuse) is left alone."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.gate.checks import gate_snapshot
from afr_box.orchestrator.gate.surface import baseline_snapshot, surface_hash
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.sandbox.images import build_candidate, candidate_tag, find_base


def test_bench_measures_and_leaves_other_images_alone(sandbox, data_root, tmp_path):
    # The baseline's image exists before (built here as a campaign builds it, or reused): the bench
    # must leave it as it is. (Absent, another test building it at the same moment looked like a change.)
    policy = load_policy("scalar-hpo")
    gate = gate_snapshot(baseline_snapshot("synthetic", policy, tmp_path / "baseline"), "synthetic", policy,
                         load_profile("synthetic"))
    assert gate.ok, gate.reason
    before, _ = build_candidate(sandbox.images, gate.files, "synthetic", gate.surface_hash, find_base(sandbox.images),
                                {"afr.policy": policy.name, "afr.policy-hash": "test"})
    baseline = gate.surface_hash
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "synthetic", "--reps", "2", "--json-out", str(out),
                                                       "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["identical_final_model"] and figures["default_polling_identical_model"]
    assert figures["isolated_identical_model"]  # site isolation changes no weight
    assert figures["isolation_ratio"] == figures["isolated_wall_s"] / figures["bare_wall_s"]
    bare_isolated = json.loads((Path(figures["work"]) / "bare-isolated-0" / "train_stats.json").read_text())
    assert set(bare_isolated["site_cpu_s"]) == {"site-1", "site-2", "site-3", "site-4"}  # the broker started (and timed) every worker
    assert figures["ratio"] == figures["sandboxed_wall_s"] / figures["bare_wall_s"]
    assert len(set(figures["scores"])) == 1  # the same candidate twice: the same score
    # the first build is real (a surface nobody had), the second reuses it
    assert figures["build_first_s"] > figures["build_cached_median_s"]
    assert 0 < figures["candidate_layer_bytes"] < 100_000
    assert "afr-box bench: task synthetic, 2 repetitions (medians)" in result.stdout
    assert "identical final model (a) vs (b): yes" in result.output and "ratio (b)/(a)" in result.output
    # its own image is gone; the baseline's is the one it was (or still absent)
    after = sandbox.images.image_info(candidate_tag("synthetic", baseline))
    assert after is not None and after.id == before.id
    own = Path(figures["work"]) / "surface"
    assert "# afr-box bench" in (own / "synthetic" / "knobs.yaml").read_text()
    assert sandbox.images.image_info(candidate_tag("synthetic", surface_hash(own))) is None
