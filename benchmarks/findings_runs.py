"""The measurement runs of benchmarks/README.md ("Findings"): same-budget campaigns, each finished
over 5 seeds with its held-out part, then `afr-box summary` over them. Campaigns run
sequentially (--parallel 1), so their wall times compare; the finish step's repeats are independent
runs with fixed seeds and use --finish-parallel slots (default 2). Every command and its wall time
go to OUT/runs.json.

    python benchmarks/findings_runs.py heart --data-root afr-data --runs-dir runs/findings
    python benchmarks/findings_runs.py tcga synthetic femnist --data-root afr-data --runs-dir runs/findings

heart runs four campaigns of 24 candidates: Optuna random, Optuna TPE, the architecture-open
control (TPE over profiles/variants/heart-architecture-open.yaml) and the baseline-only control
(baseline-seeds); the architecture-open one is finished with the two scalar ones as controls.
Other tasks run one campaign each (the architecture-open control, TPE). Resumable: an interrupted
campaign is resumed, a complete one skipped, and a finished one finished again (a no-op).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SEEDS = "42,43,44,45,46"


def plans(task: str, candidates: int) -> list[dict]:
    variant = f"profiles/variants/{task}-architecture-open.yaml"
    if task == "heart":
        return [
            {"name": "heart-random", "args": ["--proposer", "optuna", "--sampler", "random"]},
            {"name": "heart-tpe", "args": ["--proposer", "optuna", "--sampler", "tpe"]},
            {"name": "heart-baseline", "args": ["--proposer", "baseline-seeds"]},
            {"name": "heart-open", "args": ["--profile", variant, "--proposer", "optuna", "--sampler", "tpe"],
             "controls": ["heart-random", "heart-tpe"]},
        ]
    return [{"name": f"{task}-open", "args": ["--profile", variant, "--proposer", "optuna", "--sampler", "tpe"]}]


def run(cmd: list[str], log: Path) -> float:
    start = time.monotonic()
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")
    return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="+")
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--runs-dir", type=Path, required=True)
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0, help="the proposers' seed")
    ap.add_argument("--finish-parallel", type=int, default=2, help="parallel slots for the finish step's repeats")
    args = ap.parse_args()
    afr = [sys.executable, "-m", "afr_box.orchestrator.cli"]
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    record_file = args.runs_dir / "runs.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    for task in args.tasks:
        names = []
        for plan in plans(task, args.candidates):
            name, log = plan["name"], args.runs_dir / f"{plan['name']}.log"
            names.append(name)
            folder = args.runs_dir / name
            done = len(folder.joinpath("results.tsv").read_text().splitlines()) - 1 \
                if folder.joinpath("results.tsv").is_file() else 0
            resume = ["--resume"] if (folder / "campaign.json").is_file() else []
            wall = record.get(name, {}).get("campaign_s", 0.0) if done >= args.candidates else \
                run(afr + ["campaign", task, *plan["args"], "--max-candidates", str(args.candidates), "--seed",
                           str(args.seed), "--name", name, "--parallel", "1", "--runs-dir", str(args.runs_dir),
                           "--data-root", str(args.data_root), "--quiet", *resume], log)
            controls = [x for c in plan.get("controls", []) for x in ("--control", str(args.runs_dir / c))]
            finish_wall = run(afr + ["finish", str(args.runs_dir / name), "--top", "3", "--seeds", SEEDS,
                                     "--parallel", str(args.finish_parallel), "--data-root", str(args.data_root), *controls], log)
            record[name] = {"task": task, "campaign_s": round(wall, 1), "finish_s": round(finish_wall, 1),
                            "command": plan["args"]}
            record_file.write_text(json.dumps(record, indent=2))
            print(f"{name}: campaign {wall / 60:.1f} min, finish {finish_wall / 60:.1f} min", flush=True)
        run(afr + ["summary", *[str(args.runs_dir / n) for n in names], "--out", str(args.runs_dir / f"summary-{task}")],
            args.runs_dir / f"summary-{task}.log")
        print((args.runs_dir / f"summary-{task}" / "summary.md").read_text(), flush=True)


if __name__ == "__main__":
    main()
