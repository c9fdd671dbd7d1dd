"""What researchers publish and look at, from a real campaign (real Docker engine, real NVFlare
runs): the per-round curves in the report, the tracker exports read back with the trackers' own
clients, the notebook in docs/ executed, and report.html opened in a real headless Chromium."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.records.runlog import RunLog
from task_campaign import shrunk_profile

from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign
from afr_box.orchestrator.data import prepare_task
from afr_box.profiles.schema import load_profile

ROOT = Path(__file__).resolve().parents[1]
HEART = Path(__file__).resolve().parents[2] / "shared" / "data" / "flamby" / "fed_heart_disease"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def campaign(sandbox, tmp_path_factory):
    if not HEART.is_dir():
        pytest.skip(f"real heart data not available at {HEART}")
    tmp = tmp_path_factory.mktemp("reports-e2e")
    profile = shrunk_profile("heart", tmp, rounds=3)
    prepare_task(load_profile(profile), tmp / "afr-data", HEART, False)
    # A name of its own: a campaign removes leftover containers of its name when it starts.
    folder = run_campaign(CampaignOptions(task="heart", proposer="hpo", max_candidates=3, name="reports-e2e-heart",
                                          runs_dir=tmp / "runs", data_root=tmp / "afr-data", profile=profile))
    rows = RunLog(folder / "results.tsv").rows()
    assert [r.status for r in rows][0] == "keep" and all(r.score is not None for r in rows), rows
    return folder


def test_the_report_draws_per_round_curves_of_baseline_and_best(campaign):
    report = (campaign / "report.md").read_text()
    assert "## Learning curves" in report and "![per-round curves](rounds.png)" in report
    assert (campaign / "rounds.png").read_bytes().startswith(b"\x89PNG")
    assert "| 0000 (baseline) | 3 | global_accuracy " in report
    for section in ("## Totals", "## Ideas that did not help", "## What to try next"):
        assert section in report
    # any other candidate on demand; a candidate that is not there is a one-line error
    runner = CliRunner()
    done = runner.invoke(main, ["report", str(campaign), "--curves", "0002"])
    assert done.exit_code == 0, done.output
    assert re.search(r"\| 0002( \(best\))? \| 3 \|", (campaign / "report.md").read_text())
    done = runner.invoke(main, ["report", str(campaign), "--curves", "0099"])
    assert done.exit_code == 2 and "has no candidate '0099'" in done.output and "Traceback" not in done.output
    done = runner.invoke(main, ["report", str(campaign), "--y-min", "0.9", "--y-max", "0.1"])
    assert done.exit_code == 2 and "--y-min 0.9 must be below --y-max 0.1" in done.output


def test_mlflow_export_reads_back_with_the_mlflow_client(campaign, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    import afr_box

    store = tmp_path / "mlruns"
    done = CliRunner().invoke(main, ["export-tracking", str(campaign), "--mlflow", str(store)])
    assert done.exit_code == 0, done.output
    assert "3 run(s) exported, 0 already there" in done.output
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=store.as_uri())
    exp = client.get_experiment_by_name(campaign.name)
    runs = {r.data.tags["afr.candidate"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"campaign", "0000", "0001", "0002"}
    records = afr_box.load_campaign(campaign)
    for cand in records.candidates:
        run = runs[cand.id]
        assert run.data.tags["mlflow.parentRunId"] == runs["campaign"].info.run_id
        assert run.data.tags["afr.status"] == cand.status and run.data.tags["afr.image_id"] == cand.row.image_id
        assert run.data.tags["afr.mechanism"] == (", ".join(cand.mechanisms) or
                                                  ("baseline" if cand.id == "0000" else "no surface change"))
        assert run.data.metrics["score"] == cand.row.score
        assert {k: v for k, v in run.data.metrics.items() if k.startswith("score.")} == \
            {f"score.{site}": v for site, v in cand.score.per_client.items()}
        assert {k: v for k, v in run.data.params.items() if k.startswith("knob.")} == \
            {f"knob.{k}": str(v) for k, v in cand.knobs.items()}
        history = client.get_metric_history(run.info.run_id, "round.train_loss")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            [(e.round, e.aggregate["train_loss"]) for e in cand.rounds.rounds]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"surface.diff", "record.json"} <= artifacts
    assert {a.path for a in client.list_artifacts(runs["campaign"].info.run_id, "report")} >= \
        {"report/report.md", "report/progress.png"}
    again = CliRunner().invoke(main, ["export-tracking", str(campaign), "--mlflow", str(store)])
    assert again.exit_code == 0 and "0 run(s) exported, 3 already there" in again.output


def test_tensorboard_export_reads_back_with_tensorboard(campaign, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import afr_box

    done = CliRunner().invoke(main, ["export-tracking", str(campaign), "--tensorboard", str(tmp_path / "tb")])
    assert done.exit_code == 0, done.output
    for cand in afr_box.load_campaign(campaign).candidates:
        events = EventAccumulator(str(tmp_path / "tb" / campaign.name / cand.id))
        events.Reload()
        assert events.Scalars("score")[0].value == pytest.approx(cand.row.score, abs=1e-7)  # float32 in events
        losses = [(s.step, s.value) for s in events.Scalars("round.train_loss")]
        assert [step for step, _ in losses] == [e.round for e in cand.rounds.rounds]


def test_the_export_needs_exactly_one_tracker(campaign):
    done = CliRunner().invoke(main, ["export-tracking", str(campaign)])
    assert done.exit_code == 2 and "give one of --mlflow URI or --tensorboard DIR" in done.output


def test_the_notebook_example_runs(campaign, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("AFR_CAMPAIGN", str(campaign))
    notebook = nbformat.read(ROOT / "docs" / "load_campaign.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert f"{campaign.name}: 3 candidates" in printed and printed.rstrip().endswith("ok")


def test_report_html_renders_self_contained_in_a_headless_browser(campaign, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup-host.sh installs it)")
    page = campaign / "report.html"
    html = page.read_text()
    assert 'src="progress.png"' not in html and html.count('src="data:image/png;base64,') >= 2  # images inlined
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing to fetch
    shot = tmp_path / "report.png"
    run = lambda *extra: subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",  # noqa: E731
                                         *extra, page.as_uri()], capture_output=True, text=True, timeout=120)
    done = run("--window-size=1200,3000", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 3000)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 50  # text, tables and the inlined plots, not a blank page
    assert any(g > 120 and r < 90 and b < 90 for _, (r, g, b) in colours)  # the plot's green (kept points)
    dom = run("--dump-dom").stdout
    for heading in ("Progress", "Totals", "Learning curves", "Ideas that did not help", "What to try next"):
        assert f">{heading}</h2>" in dom
    rows = RunLog(campaign / "results.tsv").rows()
    assert all(r.candidate in dom for r in rows)
