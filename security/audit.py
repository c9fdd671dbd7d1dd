"""`afr-box audit runs/<campaign>`: re-verify a finished campaign after the fact.

- results.tsv: the hash chain holds (no row edited, inserted or deleted), each candidate once;
- every row agrees with its candidate record (record.json, the scorer's score.json, the
  surface snapshot's hash), and every record has its row;
- the campaign's profile and policy copies still hash as recorded;
- every candidate image still present is the recorded one: labels naming its surface and base,
  the base's layers plus one, and a top layer (read from the engine's storage, not a build
  context) holding exactly the surface snapshot's files, byte for byte.
- the prepared data (and its held-out view) re-hashed in full against its manifest, and the
  manifest still the one the campaign started with (data_checks.json).
Images removed since (`afr-box clean --images`) are reported as not re-checked, not as failures;
so is data no longer prepared on this machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.gate.surface import surface_hash
from afr_box.orchestrator.records.layout import CANDIDATES, RECORD, CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, CandidateRecord, ScoreRecord, load, load_or
from afr_box.orchestrator.records.runlog import Row, RunLog, RunLogError
from afr_box.orchestrator.records.status import Status
from afr_box.sandbox.provider import ImageStore
from afr_box.orchestrator.records.files import read_json_or
from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.hashing import hash_tree, sha256_file
from afr_box.tasks.shared.prepared import DataNotPreparedError, heldout_view, manifest_digest, verify_full


@dataclass
class AuditReport:
    campaign: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    images_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"audit of {self.campaign.name}: {self.rows} rows, chain checked, {self.images_checked} image(s) "
                f"re-checked, {len(self.notes)} note(s): {verdict}")


def _settings(folder: CampaignFolder, meta: CampaignMeta, report: AuditReport) -> None:
    for copy, key in ((folder.profile, "profile_sha256"), (folder.policy, "policy_sha256")):
        if copy.is_file() and sha256_file(copy) != getattr(meta, key):
            report.problems.append(f"{copy.name}: no longer hashes as recorded in campaign.json ({key})")


def _row_vs_record(folder: CampaignFolder, row: Row, report: AuditReport) -> None:
    where = f"row {row.candidate}"
    found = folder.artifacts(row.artifacts)
    if row.status == Status.LITERATURE:  # a literature event: its record is literature.json, no run
        if not found.literature.is_file():
            report.problems.append(f"{where}: no record at {row.artifacts}/{found.literature.name}")
        return
    if not found.record.is_file():
        report.problems.append(f"{where}: no record at {row.artifacts}/{RECORD}")
        return
    try:
        record = load(CandidateRecord, found.record).model_dump()
    except RecordError as exc:
        report.problems.append(f"{where}: {exc}")
        return
    logged = {k: v for k, v in row.__dict__.items() if k != "chain"}
    differs = [k for k, v in logged.items() if k in record and record[k] != v]
    if differs:
        report.problems.append(f"{where}: results.tsv disagrees with its record on {', '.join(differs)} "
                               f"(e.g. {differs[0]}: log {logged[differs[0]]!r}, record {record[differs[0]]!r})")
    if row.score is not None:
        written = load_or(ScoreRecord, found.score)
        score = written.score if written else None
        if score != row.score:
            report.problems.append(f"{where}: logged score {row.score!r} but the scorer wrote {score!r}")
    snapshot = found.surface
    if row.surface_hash and (not snapshot.is_dir() or surface_hash(snapshot) != row.surface_hash):
        report.problems.append(f"{where}: the surface snapshot on disk no longer hashes to {row.surface_hash[:16]}")


def _image(folder: CampaignFolder, row: Row, base_id: str, images: ImageStore, report: AuditReport) -> None:
    where = f"row {row.candidate} image {row.image_id[:19]}"
    info = images.image_info(row.image_id)
    if info is None:
        report.notes.append(f"{where}: removed from the engine; its layers were not re-checked")
        return
    report.images_checked += 1
    if info.id != row.image_id:
        report.problems.append(f"{where}: the engine returns another image ({info.id[:19]})")
    if info.labels.get("afr.surface-hash") != row.surface_hash or info.labels.get("afr.base-id") != base_id:
        report.problems.append(f"{where}: labels name surface {info.labels.get('afr.surface-hash', '')[:16]} and "
                               f"base {info.labels.get('afr.base-id', '')[:19]}, not the recorded ones")
    base = images.image_info(base_id)
    if base is None:
        report.notes.append(f"{where}: base image {base_id[:19]} removed; layer count not re-checked")
    elif info.layers[:-1] != base.layers:
        report.problems.append(f"{where}: not the recorded base plus one layer ({len(info.layers)} layers)")
    layer = images.top_layer(info.id)
    if layer is None:
        report.notes.append(f"{where}: the engine's storage is not readable here; top layer not re-checked")
        return
    snapshot = hash_tree(folder.artifacts(row.artifacts).surface)
    files = {k[len("surface/"):]: v for k, v in layer.items() if k.startswith("surface/") and v != "dir"}
    outside = sorted(k for k in layer if k != "surface" and not k.startswith("surface/"))
    if outside:
        report.problems.append(f"{where}: top layer holds files outside /surface: {', '.join(outside[:5])}")
    if files != snapshot:
        extra = sorted(set(files) - set(snapshot)) + sorted(k for k in files if k in snapshot and files[k] != snapshot[k])
        report.problems.append(f"{where}: top layer differs from the surface snapshot "
                               f"({', '.join(extra[:5]) or 'files missing'})")


def _data(folder: CampaignFolder, task: str, data_root: Path, report: AuditReport) -> None:
    data_dir = data_root / task
    if not (data_dir / "manifest.json").is_file():
        report.notes.append(f"no prepared data at {data_dir}: the data was not re-checked (--data-root)")
        return
    started = [c for entry in read_json_or(folder.data_checks, []) for c in entry.get("checks", [])
               if Path(c.get("folder", "")).name == task and c.get("manifest_sha256")]
    try:
        verify_full(data_dir)
        fraction = load_profile(folder.profile).heldout_fraction if folder.profile.is_file() else None
        if fraction:
            verify_full(heldout_view(data_dir, fraction))
    except DataNotPreparedError as exc:
        report.problems.append(f"data: {exc}")
        return
    if started and started[0]["manifest_sha256"] != manifest_digest(data_dir):
        report.problems.append(f"data: {data_dir} was prepared again since the campaign started "
                               f"(manifest {manifest_digest(data_dir)[:16]}, campaign's {started[0]['manifest_sha256'][:16]})")


def audit(path: Path, images: Optional[ImageStore], data_root: Optional[Path] = None) -> AuditReport:
    folder = CampaignFolder(Path(path))
    report = AuditReport(campaign=folder.path)
    try:
        meta = load(CampaignMeta, folder.meta)
        _settings(folder, meta, report)
        base_id = meta.base_image_id
        if data_root is not None:
            _data(folder, meta.task, Path(data_root), report)
    except RecordError as exc:
        report.problems.append(str(exc))
        base_id = ""
    runlog = RunLog(folder.results)
    try:
        rows = runlog.rows()
        breaks = runlog.chain_breaks()
    except RunLogError as exc:
        report.problems.append(str(exc))
        return report
    report.rows = len(rows)
    for lineno, row, why in breaks:
        report.problems.append(f"results.tsv:{lineno} (candidate {row.candidate}): hash chain broken: {why}")
    seen: set[str] = set()
    for row in rows:
        if row.candidate in seen:
            report.problems.append(f"row {row.candidate}: logged more than once")
        seen.add(row.candidate)
        _row_vs_record(folder, row, report)
        if row.image_id and images is not None:
            _image(folder, row, base_id, images, report)
    for rec in sorted((folder / CANDIDATES).glob(f"*/{RECORD}")):
        if rec.parent.name not in seen:
            report.problems.append(f"candidate {rec.parent.name}: has a record but no row in results.tsv "
                                   f"(a deleted row, or an interrupted campaign not resumed)")
    if images is None:
        report.notes.append("no container engine: images were not re-checked")
    return report
