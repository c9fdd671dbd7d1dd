"""Real scale: memory and verification cost against the data size (not a timed test; too big for CI).

    python benchmarks/scale.py camelyon --work /work/scale-data --scales 1 2 4 --slides 8 --tiles 4000
    python benchmarks/scale.py camelyon --work /work/scale-data --scales 1 --slides 70 --tiles 9000 \
        --campaign --memory 3g          # > 4 GB of features per site under a 3 GiB training container
    python benchmarks/scale.py femnist --work /work/scale-data --scales 1 2 4 --campaign   # 4x: 805,263 samples
    python benchmarks/scale.py celeba --work /work/scale-data --scales 1 2 4 --campaign    # 4x: 200,288 images
    python benchmarks/scale.py verify --work /work/scale-data --sizes-gb 1 10 --tiles 6000

For each scale it generates data in the task's exact on-disk format (FLamby's tile-feature files
and tables; LEAF's JSON shards, with CelebA's JPEGs), runs `afr-box data prepare` as a child
process (wall time and peak RSS from wait4), and with --campaign a campaign of the baseline plus
one HPO candidate under a reduced-rounds profile and a policy variant with the given container
memory; it reads the training container's peak anonymous memory and page cache (cgroup
memory.stat, resources.json), the per-round time and the per-candidate data check from the
records. `verify` times the per-candidate identity check and the full re-hash of prepared
folders of the given sizes. Everything generated goes under --work and is removed after each
scale unless --keep. Scale s multiplies the number of slides / samples / images: a design that
loads a site whole grows its memory s-fold; a lazy one stays flat.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
AFR = [sys.executable, "-m", "afr_box.orchestrator.cli"]
MIB = 2 ** 20


# ---------------------------------------------------------------- format-exact generators

def camelyon_source(dest: Path, slides_per_site: int, tiles: int, test_per_site: int = 4, seed: int = 0) -> Path:
    """FLamby's fed_camelyon16 layout: <slide>.tif.npy float32 (n_tiles, 2048) per slide, labels.csv,
    metadata.csv. Center 0 gets normal_001.. / tumor_001.., center 1 normal_101.. / tumor_071.. (FLamby's
    center rules); tumor slides carry raised features on a third of their tiles."""
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    normal = {0: range(1, 101), 1: range(101, 161)}
    tumor = {0: range(1, 71), 1: range(71, 112)}
    slides = []
    for c in (0, 1):
        n_tumor = slides_per_site // 2
        slides += [(f"normal_{i:03d}", 0, c) for i in list(normal[c])[:slides_per_site - n_tumor]]
        slides += [(f"tumor_{i:03d}", 1, c) for i in list(tumor[c])[:n_tumor]]
    slides += [(f"test_{i + 1:03d}", (i // 2) % 2, i % 2) for i in range(2 * test_per_site)]
    for name, label, _ in slides:
        n = int(tiles * rng.uniform(0.9, 1.0))
        features = rng.random((n, 2048), dtype=np.float32)
        if label:
            features[rng.choice(n, n // 3, replace=False), :32] += 3.0
        np.save(dest / f"{name}.tif.npy", features)
    with open(dest / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filenames", "tumor"])
        w.writerows([f"{name}.tif.npy", "True" if label else "False"] for name, label, _ in sorted(slides))
    with open(dest / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "tumorp1000", "tumorp10000", "tumorp40000", "hospital", "hospital_corrected", "slide_name"])
        for name, label, c in sorted(slides):
            w.writerow([label, *(["0.05", "0.04", "0.03"] if label else ["", "", ""]), f"{c}.0", f"{c}.0", f"{name}.tif"])
    return dest


def _leaf_json(path: Path, users: dict[str, tuple[list, list]]) -> None:
    with open(path, "w") as f:
        json.dump({"users": list(users), "num_samples": [len(y) for _, y in users.values()],
                   "user_data": {u: {"x": x, "y": y} for u, (x, y) in users.items()}}, f)


def leaf_source(dest: Path, samples: int, make_x, per_user: int, users_per_shard: int = 100, seed: int = 0,
                prefix: str = "f") -> Path:
    """LEAF's data/<task>/data layout after `preprocess.sh -t sample`: train/ and test/ JSON shards of
    users_per_shard users each, every user's samples split 90/10 (LEAF's per-user sample split)."""
    rng = np.random.default_rng(seed)
    n_users = max(2, round(samples / per_user))
    for split in ("train", "test"):
        (dest / split).mkdir(parents=True, exist_ok=True)
    for shard, first in enumerate(range(0, n_users, users_per_shard)):
        parts = {"train": {}, "test": {}}
        for u in range(first, min(first + users_per_shard, n_users)):
            n = samples // n_users + (u < samples % n_users)  # exactly `samples` in all
            xs, ys = make_x(rng, n, u), rng.integers(0, 2 if prefix == "c" else 62, n).tolist()
            k = max(1, int(0.9 * n))
            user = f"{prefix}{u:06d}"
            parts["train"][user] = (xs[:k], ys[:k])
            parts["test"][user] = (xs[k:], ys[k:])
        for split, users in parts.items():
            _leaf_json(dest / split / f"all_data_{shard}_niid_0_keep_0_{split}_9.json", users)
    return dest


def femnist_x(rng, n: int, _user: int) -> list:
    """28x28 grey values as LEAF's data_to_json writes them: pixel levels / 255, mostly white (1.0)."""
    levels = np.where(rng.random((n, 784)) < 0.8, 255, rng.integers(0, 256, (n, 784)))
    return (levels / 255.0).tolist()


def celeba_x_maker(images: Path):
    from PIL import Image

    images.mkdir(parents=True, exist_ok=True)
    counter = iter(range(10 ** 9))

    def make(rng, n: int, _user: int) -> list:
        names = []
        for _ in range(n):
            name = f"{next(counter) + 1:06d}.jpg"
            Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(images / name, quality=85)
            names.append(name)
        return names
    return make


# ---------------------------------------------------------------- measuring

def run_child(cmd: list[str], log: Path) -> tuple[float, int, int]:
    """(wall s, peak RSS bytes, exit code) of a child process, from wait4's rusage."""
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - start, usage.ru_maxrss * 1024, proc.returncode


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prepare(task: str, source: Path, data_root: Path, log: Path, profile: Optional[Path] = None) -> dict:
    """`afr-box data prepare` in a child process (through a profile variant when its client count differs)."""
    code = ("from pathlib import Path; from afr_box.orchestrator.data import prepare_task; "
            "from afr_box.profiles.schema import load_profile; "
            f"prepare_task(load_profile({str(profile or task)!r}), Path({str(data_root)!r}), Path({str(source)!r}), False)")
    wall, rss, rc = run_child([sys.executable, "-c", code], log)
    if rc:
        raise SystemExit(f"prepare {task} failed (exit {rc}); see {log}")
    train = data_root / task / "train"
    sites = [p for p in train.iterdir() if p.name.startswith("site-")]
    return {"prepare_s": wall, "prepare_peak_rss": rss, "data_bytes": du(data_root / task),
            "largest_train_site_bytes": max(du(p) for p in sites),
            "samples": json.loads((data_root / task / "manifest.json").read_text())["sites"]}


def variants(task: str, work: Path, memory: str, budget: dict) -> tuple[Path, Path]:
    """A reduced-rounds, single-seed profile and a policy variant with `memory` for the training containers."""
    spec = yaml.safe_load((ROOT / "profiles" / f"{task}.yaml").read_text())
    spec["budget"].update({k: v for k, v in budget.items() if k != "local_steps"})
    spec["noise_seeds"] = 1  # memory against data size: the baseline's seed noise is not measured here
    if "local_steps" in budget:
        spec["budget"]["local_steps"] = {"baseline": budget["local_steps"], "min": 1, "max": budget["local_steps"]}
        spec["search_space"] = [d for d in spec.get("search_space", []) if d["knob"] != "local_steps"]
    profile = work / f"{task}-scale.yaml"
    profile.write_text(yaml.safe_dump(spec, sort_keys=False))
    pol = yaml.safe_load((ROOT / "policies" / f"{spec['default_policy']}.yaml").read_text())
    pol["container"]["memory"] = memory
    policy = work / f"{spec['default_policy']}-{memory}.yaml"
    policy.write_text(yaml.safe_dump(pol, sort_keys=False))
    return profile, policy


def campaign(task: str, data_root: Path, work: Path, name: str, memory: str, budget: dict) -> dict:
    profile, policy = variants(task, work, memory, budget)
    runs = work / "runs"
    cmd = AFR + ["campaign", task, "--proposer", "hpo", "--max-candidates", "2", "--name", name, "--runs-dir",
                 str(runs), "--data-root", str(data_root), "--profile", str(profile), "--policy", str(policy), "--quiet"]
    wall, _, rc = run_child(cmd, work / f"{name}.log")
    if rc != 0:  # say why here: the work folder (and the log) goes unless --keep
        tail = (work / f"{name}.log").read_text(errors="replace").strip().splitlines()[-5:]
        print(f"campaign {name} exited {rc}:", *tail, sep="\n  ", file=sys.stderr, flush=True)
    folder = runs / name
    rows = list(csv.DictReader(open(folder / "results.tsv"), delimiter="\t")) if (folder / "results.tsv").is_file() else []
    out = {"campaign_s": wall, "campaign_rc": rc, "rows": [(r["candidate"], r["status"], r["score"]) for r in rows],
           "reasons": {r["candidate"]: r["reason"] for r in rows if r["reason"]}}
    peaks = []
    for cand in sorted((folder / "candidates").iterdir()) if (folder / "candidates").is_dir() else []:
        res = json.loads((cand / "resources.json").read_text()) if (cand / "resources.json").is_file() else {}
        ver = json.loads((cand / "verification.json").read_text()) if (cand / "verification.json").is_file() else {}
        train = res.get("train", {})
        peaks.append({"candidate": cand.name, "train_anon": train.get("peak_anon_bytes"),
                      "train_cache": train.get("peak_cache_bytes"), "train_s": train.get("wall_s"),
                      "infer_anon": res.get("infer", {}).get("peak_anon_bytes"),
                      "score_anon": res.get("score", {}).get("peak_anon_bytes"),
                      "verify": [(c["kind"], c["seconds"]) for c in ver.get("data_checks", [])]})
    out["candidates"] = peaks
    out["rounds"] = budget.get("rounds")
    out["start_check"] = json.loads((folder / "data_checks.json").read_text()) if (folder / "data_checks.json").is_file() else []
    return out


# ---------------------------------------------------------------- tasks

def gib(v) -> str:
    return f"{v / 2 ** 30:.2f}" if v else "?"


def mib(v) -> str:
    return f"{v / MIB:.0f}" if v else "?"


def row(task: str, scale: int, m: dict) -> str:
    c = (m.get("candidates") or [{}])
    anon = max((x.get("train_anon") or 0) for x in c) if c else 0
    cache = max((x.get("train_cache") or 0) for x in c) if c else 0
    rounds = m.get("rounds") or 0
    per_round = (f"{min(x['train_s'] for x in c if x.get('train_s')) / rounds:.1f}"
                 if rounds and any(x.get("train_s") for x in c) else "-")
    verify = "; ".join(f"{k} {s:.3f}s" for x in c for k, s in x.get("verify", [])[:1]) or "-"
    return (f"| {task} | {scale}x | {gib(m['data_bytes'])} | {m['prepare_s']:.0f} | {mib(m['prepare_peak_rss'])} | "
            f"{per_round} | {mib(anon) if c else '-'} / {mib(cache) if c else '-'} | {verify} | "
            f"{' '.join(f'{r[0]}:{r[1]}' for r in m.get('rows', []))} |")


HEADER = ("| task | scale | prepared data (GiB) | prepare (s) | prepare peak RSS (MiB) | train wall / round (s) | "
          "train container peak anon / cache (MiB) | per-candidate data check | rows |\n|---|---|---|---|---|---|---|---|---|")


def run_task(args) -> None:
    print(HEADER, flush=True)
    for scale in args.scales:
        work = Path(args.work) / f"{args.task}-{scale}x"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            if args.task == "camelyon":
                source = camelyon_source(work / "src", args.slides * scale, args.tiles)
                budget = {"rounds": 1, "local_steps": 2, "batch_size": 2}
            elif args.task == "femnist":  # LEAF: 3,550 writers, ~227 samples each
                source = leaf_source(work / "src", args.samples * scale // max(args.scales), femnist_x, per_user=227)
                budget = {"rounds": 1, "local_steps": 20, "clients": 4}
            else:  # LEAF CelebA: 9,343 celebrities, ~21 images each
                source = work / "src"
                leaf_source(source, args.images * scale // max(args.scales),
                            celeba_x_maker(source / "raw" / "img_align_celeba"), per_user=21, prefix="c")
                budget = {"rounds": 1, "local_steps": 10, "clients": 4}
            profile, _ = variants(args.task, work, args.memory, budget)  # its clients: what the bridge groups into
            m = prepare(args.task, source, work / "afr-data", work / "prepare.log", profile)
            data_root = work / "afr-data"
            shutil.rmtree(source, ignore_errors=True)  # the prepared folder is what the campaign reads
            if args.campaign:
                m.update(campaign(args.task, data_root, work, f"scale-{args.task}-{scale}x", args.memory, budget))
            (Path(args.work) / f"{args.task}-{scale}x.json").write_text(json.dumps(m, indent=2, default=str))
            log = work / "runs" / f"scale-{args.task}-{scale}x" / "campaign.log"
            if log.is_file():  # kept beside the figures: the campaign folder goes with the data
                shutil.copyfile(log, Path(args.work) / f"{args.task}-{scale}x.campaign.log")
            print(row(args.task, scale, m), flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)


def run_verify(args) -> None:
    """Identity check vs full re-hash on prepared folders of the given sizes (camelyon layout)."""
    sys.path.insert(0, str(ROOT))
    from afr_box.tasks.shared.prepared import verify_full, verify_identity

    print("| prepared data (GiB) | files | identity check (s) | full re-hash (s) |\n|---|---|---|---|")
    for size in args.sizes_gb:
        work = Path(args.work) / f"verify-{size}g"
        shutil.rmtree(work, ignore_errors=True)
        try:
            slides = max(2, int(size * 2 ** 30 / (2 * args.tiles * 2048 * 4)))
            source = camelyon_source(work / "src", slides, args.tiles)
            prepare("camelyon", source, work / "afr-data", work / "prepare.log")
            shutil.rmtree(source)
            folder = work / "afr-data" / "camelyon"
            full = verify_full(folder)
            ident = [verify_identity(folder, full.identity).seconds for _ in range(5)]
            print(f"| {full.bytes / 2 ** 30:.2f} | {full.files} | {np.median(ident):.4f} (median of 5) | "
                  f"{full.seconds:.1f} |", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=["camelyon", "femnist", "celeba", "verify"])
    p.add_argument("--work", required=True, help="where to generate (outside the repository); removed after")
    p.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--slides", type=int, default=8, help="camelyon: training slides per site at 1x")
    p.add_argument("--tiles", type=int, default=4000, help="camelyon: tiles per slide (2048 float32 each)")
    p.add_argument("--samples", type=int, default=805263,
                   help="femnist: samples at the largest scale (805,263 = full LEAF FEMNIST); scale s has s/max of it")
    p.add_argument("--images", type=int, default=200288,
                   help="celeba: images at the largest scale (200,288 = full CelebA in LEAF)")
    p.add_argument("--campaign", action="store_true", help="also run baseline + 1 HPO candidate")
    p.add_argument("--memory", default="3g", help="the policy variant's container memory")
    p.add_argument("--sizes-gb", type=float, nargs="+", default=[1, 10])
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    run_verify(args) if args.task == "verify" else run_task(args)


if __name__ == "__main__":
    main()
