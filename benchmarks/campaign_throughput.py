"""Campaign throughput on this machine: a long heart HPO campaign with `--parallel 2`, against the
paper's Table III, and the same first candidates run with `--parallel 1` (their scores must be
identical, candidate by candidate).

    python benchmarks/campaign_throughput.py --data-root afr-data [--candidates 100] [--check 8]

Runs `afr-box campaign` twice as a user would (the noise-floor seeds at its start included) and
prints wall time, minutes per candidate and candidates per hour for each, the paper's figures
beside them, and the score comparison. Not a test: about half an hour on a 2-core machine.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# AFR paper, Table III (heart, 100 candidates on an H100 node).
PAPER_MIN_PER_CANDIDATE = 1.1
PAPER_HOURS_PER_100 = 1.9


def campaign(runs: Path, data_root: Path, name: str, candidates: int, parallel: int) -> tuple[float, dict[str, str]]:
    cmd = [str(Path(sys.executable).with_name("afr-box")), "campaign", "heart", "--proposer", "hpo",
           "--max-candidates", str(candidates), "--parallel", str(parallel), "--name", name, "--quiet",
           "--runs-dir", str(runs), "--data-root", str(data_root)]
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    with open(runs / name / "results.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return wall, {r["candidate"]: r["score"] for r in rows}


def line(label: str, wall: float, n: int) -> str:
    return (f"  {label:<34}{wall / 60:7.1f} min wall  {wall / 60 / n:5.2f} min/candidate  "
            f"{n / (wall / 3600):6.1f} candidates/hour")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--check", type=int, default=8, help="first candidates rerun with --parallel 1")
    parser.add_argument("--runs-dir", type=Path, default=None)
    args = parser.parse_args()
    runs = args.runs_dir or Path(tempfile.mkdtemp(prefix="afr-throughput-"))
    stamp = int(time.time())
    long_wall, long_scores = campaign(runs, args.data_root, f"heart-{args.candidates}-p2-{stamp}", args.candidates, 2)
    short_wall, short_scores = campaign(runs, args.data_root, f"heart-{args.check}-p1-{stamp}", args.check, 1)
    same = [c for c in short_scores if long_scores.get(c) == short_scores[c]]
    differ = {c: (short_scores[c], long_scores.get(c)) for c in short_scores if c not in same}
    print(f"afr-box campaign heart --proposer hpo: {args.candidates} candidates (--parallel 2), "
          f"the first {args.check} again (--parallel 1); the noise-floor seeds at each start included")
    print(line(f"{args.candidates} candidates, --parallel 2", long_wall, args.candidates))
    print(line(f"{args.check} candidates, --parallel 1", short_wall, args.check))
    print(f"  paper, Table III (H100 node)       {PAPER_HOURS_PER_100 * 60:7.1f} min for 100  "
          f"{PAPER_MIN_PER_CANDIDATE:5.2f} min/candidate  {60 / PAPER_MIN_PER_CANDIDATE:6.1f} candidates/hour")
    print(f"  scores identical, candidate by candidate: {len(same)}/{len(short_scores)}"
          + (f"; differ: {json.dumps(differ)}" if differ else ""))
    print(f"  campaigns in {runs}")
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
