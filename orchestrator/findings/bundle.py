"""Export a logged candidate as a self-contained bundle, and unpack one for replay elsewhere.

    bundle.tar
        bundle.json            format, the logged row, the base image reference, sha256 of every file
        campaign.json profile.yaml policy.yaml     the campaign's settings (hash-checked on replay)
        record/                the candidate record's small files (record, proposal, gate, image, score)
        surface/               the surface snapshot (what the image's one layer holds)
        layer.tar              the candidate image's own top layer, taken from the engine's `save`

The base image is referenced (id and tag), not shipped: it is rebuilt from the harness by
`afr-box image build` on the other machine. Unpacking verifies every file hash, the surface
hash and that the layer holds exactly the snapshot's files, then lays the bundle out as a
one-candidate campaign folder that `replay` runs like any other.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from afr_box.orchestrator.errors import ReplayError
from afr_box.orchestrator.findings.replay import load_logged
from afr_box.orchestrator.gate.surface import working_copy
from afr_box.orchestrator.records.files import read_json_or
from afr_box.orchestrator.records.layout import CAMPAIGN, POLICY
from afr_box.orchestrator.records.models import CampaignMeta, load
from afr_box.orchestrator.records.runlog import Row, RunLog, utc_now
from afr_box.sandbox.provider import ImageStore
from afr_box.tasks.shared.hashing import hash_tree, sha256_file, tree_digest

FORMAT = "afr-box-bundle/1"
RECORD_FILES = ("record.json", "proposal.json", "gate.json", "image.json", "surface.diff", "score/score.json",
                "verification.json", "containers.json")


def export_bundle(campaign_dir: Path, cand: str, out: Path, images: ImageStore) -> Path:
    logged = load_logged(campaign_dir, cand)  # refuses an altered record
    row, meta = logged.row, logged.meta
    image = images.image_info(row.image_id)
    if image is None:
        raise ReplayError(f"image {row.image_id[:19]} of {cand} is gone: run `afr-box replay {campaign_dir} {cand}` "
                          f"(it rebuilds the image) before exporting")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "bundle"
        (stage / "record").mkdir(parents=True)
        for name in ("campaign.json", "profile.yaml", "policy.yaml"):
            shutil.copyfile(logged.campaign_dir / name, stage / name)
        folder = logged.campaign_dir / row.artifacts
        for name in RECORD_FILES:
            if (folder / name).is_file():
                (stage / "record" / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, stage / "record" / name)
        working_copy(logged.snapshot, stage / "surface")
        if not images.save_top_layer(image.id, stage / "layer.tar"):
            raise ReplayError(f"the engine's save of {image.id[:19]} holds no layer matching its top layer")
        base = images.image_info(meta.base_image_id)
        manifest = {"format": FORMAT, "candidate": cand, "row": row.__dict__, "campaign": meta.name,
                    "base_image_id": meta.base_image_id, "base_tags": base.tags if base else [],
                    "image_id": image.id, "surface_hash": row.surface_hash, "exported_at": utc_now(),
                    "files": hash_tree(stage)}
        (stage / "bundle.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w") as tar:
            for path in sorted(stage.rglob("*")):
                tar.add(path, arcname=path.relative_to(stage).as_posix(), recursive=False)
    return out


def _layer_files(layer_tar: Path) -> dict[str, str]:
    found = {}
    with tarfile.open(layer_tar) as tar:
        for member in tar.getmembers():
            name = member.name.lstrip("./")
            if member.isdir():
                continue
            if not member.isfile():
                found[name] = "not a plain file"
                continue
            found[name] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    return found


def unpack_bundle(bundle: Path, runs_dir: Path) -> tuple[Path, str]:
    """Verify `bundle` and lay it out as a one-candidate campaign folder; returns (folder, candidate)."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        try:
            with tarfile.open(bundle) as tar:
                tar.extractall(stage, filter="data")  # no links out, no absolute paths, no devices
        except (OSError, tarfile.TarError) as exc:
            raise ReplayError(f"{bundle} is not a readable afr-box bundle ({exc})") from None
        manifest = read_json_or(stage / "bundle.json", None)
        if not manifest or manifest.get("format") != FORMAT:
            raise ReplayError(f"{bundle} has no {FORMAT} bundle.json")
        files = hash_tree(stage)
        files.pop("bundle.json", None)
        if files != manifest["files"]:
            changed = sorted({k for k in set(files) | set(manifest["files"]) if files.get(k) != manifest["files"].get(k)})
            raise ReplayError(f"bundle files do not match bundle.json (changed: {', '.join(changed[:5])}): hash mismatch")
        snapshot = {k[len("surface/"):]: v for k, v in files.items() if k.startswith("surface/")}
        if tree_digest(snapshot) != manifest["surface_hash"]:
            raise ReplayError("the bundled surface does not hash to the logged surface hash: hash mismatch")
        layer = {k[len("surface/"):]: v for k, v in _layer_files(stage / "layer.tar").items()}
        if layer != snapshot:
            raise ReplayError("the bundled image layer does not hold exactly the surface snapshot")
        cand, meta = manifest["candidate"], load(CampaignMeta, stage / CAMPAIGN)
        folder = Path(runs_dir) / f"bundle-{meta.name}-{cand}"
        if folder.exists():
            shutil.rmtree(folder)
        record = folder / "candidates" / cand
        record.mkdir(parents=True)
        for name in ("campaign.json", "profile.yaml", "policy.yaml"):
            shutil.copyfile(stage / name, folder / name)
        shutil.copytree(stage / "record", record, dirs_exist_ok=True)
        shutil.copytree(stage / "surface", record / "surface")
        shutil.copyfile(stage / "layer.tar", folder / "layer.tar")
        RunLog(folder / "results.tsv").append(Row(**{k: v for k, v in manifest["row"].items() if k != "chain"}))
    if sha256_file(folder / POLICY) != meta.policy_sha256:
        raise ReplayError("the bundled policy does not hash as its campaign.json records")
    return folder, cand
