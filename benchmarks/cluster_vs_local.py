"""The same heart campaign (same seeds) on the local provider and on a Ray cluster, on this machine.

Starts a loopback registry and a Ray cluster (a head without slots, workers with afr_slot
1, 1 and 2: four slots on one machine, all sharing its cores and its Docker engine), then runs
`afr-box campaign` three times as a user would (local --parallel 1, local --parallel 2, and
--cluster), and prints wall times as ratios against the local sequential run measured here,
and the scores side by side.

    python benchmarks/cluster_vs_local.py --data-root /tmp/ray-afr-data [--rounds 3] [--max-candidates 4]

On one machine the cluster cannot beat the CPU count: what it shows is the cost of the path
(push, pull by digest, staging, Ray scheduling) and that scores do not change.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from afr_box.profiles.schema import profile_path
from afr_box.sandbox.registry import LoopbackRegistry

WORKER_SLOTS = (1, 1, 2)
STORE = 100 * 1024 ** 2


def campaign(args, work: Path, name: str, *extra: str) -> tuple[float, dict[str, float]]:
    cmd = [str(Path(sys.executable).with_name("afr-box")), "campaign", "heart", "--proposer", "hpo",
           "--max-candidates", str(args.max_candidates), "--seed", str(args.seed), "--name", name, "--quiet",
           "--runs-dir", str(work / "runs"), "--data-root", str(args.data_root), *extra]
    if args.profile:
        cmd += ["--profile", str(args.profile)]
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    with open(work / "runs" / name / "results.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return wall, {r["candidate"]: r["score"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--max-candidates", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=None, help="a profile variant with fewer rounds (default: heart's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="afr-cluster-bench-"))
    args.profile = None
    if args.rounds:
        profile = yaml.safe_load(profile_path("heart").read_text())
        profile["budget"]["rounds"] = args.rounds
        args.profile = work / f"heart-{args.rounds}-rounds.yaml"
        args.profile.write_text(yaml.safe_dump(profile))

    import ray
    from ray.cluster_utils import Cluster

    results = {}
    results["local --parallel 1"] = campaign(args, work, "local-p1", "--parallel", "1")
    results["local --parallel 2"] = campaign(args, work, "local-p2", "--parallel", "2")
    with LoopbackRegistry(work / "registry") as registry:
        cluster = Cluster(initialize_head=True, head_node_args=dict(
            num_cpus=1, resources={"afr_slot": 0}, object_store_memory=STORE, include_dashboard=False))
        try:
            for slots in WORKER_SLOTS:
                cluster.add_node(num_cpus=1, resources={"afr_slot": slots}, object_store_memory=STORE)
            cluster.wait_for_nodes()
            # The first cluster campaign pushes the 1.6 GB base once; count it separately.
            start = time.monotonic()
            campaign(args, work, "cluster-warm", "--cluster", cluster.address, "--registry", registry.address,
                     "--max-candidates", "1")
            warm = time.monotonic() - start
            results["cluster (afr_slot 1+1+2)"] = campaign(args, work, "cluster", "--cluster", cluster.address,
                                                           "--registry", registry.address)
        finally:
            ray.shutdown()
            cluster.shutdown()
            _untag(registry.address)

    base_wall = results["local --parallel 1"][0]
    rounds = args.rounds or yaml.safe_load(profile_path("heart").read_text())["budget"]["rounds"]
    print(f"heart, {args.max_candidates} candidates (baseline + hpo), seed {args.seed}, {rounds} rounds; "
          f"this machine, one run each")
    print(f"{'run':28} {'wall s':>8} {'ratio':>6}")
    for label, (wall, _) in results.items():
        print(f"{label:28} {wall:8.1f} {wall / base_wall:6.2f}")
    print(f"(first cluster campaign, base push + preflight + 1 candidate: {warm:.1f} s, not counted above)")
    cands = sorted(results["local --parallel 1"][1])
    print("\ncandidate  " + "  ".join(f"{label:>26}" for label in results))
    for cand in cands:
        print(f"{cand:9}  " + "  ".join(f"{scores.get(cand, '-'):>26}" for _, scores in results.values()))
    same = all(scores == results["local --parallel 1"][1] for _, scores in results.values())
    print(f"\nscores identical across the three runs: {'yes' if same else 'NO'}")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if same else 1)


def _untag(registry: str) -> None:
    """Drop the registry tags this run added to local images (the images themselves stay)."""
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True)
    tags = [t for t in out.stdout.split() if t.startswith(registry + "/")]
    if tags:
        subprocess.run(["docker", "rmi", *tags], stdout=subprocess.DEVNULL, check=False)


if __name__ == "__main__":
    main()
