"""The noise floor: how much the untouched baseline's score moves from seed to seed, and the
keep rule built on it (`min_delta: auto`).

At campaign start the baseline runs over the profile's `noise_seeds` seeds: candidate 0 is its
run with the budget's seed, the others are recorded under `noise/` (noise.tsv,
noise/candidates/0000-s<seed>/). campaign.json then records their mean and standard deviation.

The rule: with `min_delta: auto` a candidate is kept only when it beats the best by more than
    delta = 2 * s,   s = the sample standard deviation of the baseline's scores over its seeds.
Two single runs of one configuration with spread s differ by s * sqrt(2) in standard deviation,
so a candidate no better than the best passes delta by chance about 8% of the time (normal
noise), against 50% with delta 0. A baseline that scores the same on every seed has delta 0;
without a measurement (noise_seeds 1, a baseline that did not score) delta is 0 and the review
says the noise floor was not measured.
"""
from __future__ import annotations

import math
from typing import Optional

from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.models import CampaignMeta, NoiseRecord, load, load_or, save
from afr_box.orchestrator.records.repeats import Repeat, append_repeat, read_repeats
from afr_box.orchestrator.records.runlog import Row, baseline_row
from afr_box.orchestrator.records.status import Status
from afr_box.reports.stats import summarize

NOISE_FACTOR = 2.0
RULE = (f"keep when the gain over the best is more than {NOISE_FACTOR:g} x the baseline's seed standard deviation "
        "(the noise floor)")


def noise_seeds(profile) -> list[int]:
    """The seeds the baseline runs over; the first is the budget's own (candidate 0's run)."""
    return [profile.budget.seed + k for k in range(profile.noise_seeds)]


def noise_floor(scores: dict[int, float]) -> NoiseRecord:
    """Mean, standard deviation and the keep delta of the baseline's scores by seed."""
    finite = {s: v for s, v in sorted(scores.items()) if v is not None and math.isfinite(v)}
    summary = summarize(list(finite.values())) if finite else None
    std = summary.std if summary is not None else None
    return NoiseRecord(seeds=sorted(finite), scores={str(s): v for s, v in finite.items()},
                       mean=summary.mean if summary else None, std=std,
                       delta=NOISE_FACTOR * std if std is not None else None, rule=RULE)


def review_delta(min_delta, noise: Optional[NoiseRecord]) -> tuple[float, str]:
    """(the delta a review uses, how to name it in a row's reason)."""
    if min_delta != "auto":
        return float(min_delta), f"min_delta {float(min_delta):g}"
    if noise is None or noise.delta is None:
        return 0.0, "noise floor not measured (0)"
    return noise.delta, (f"noise floor {noise.delta:.4f} = {NOISE_FACTOR:g} x baseline std {noise.std:.4f} "
                         f"over {len(noise.seeds)} seeds")


def campaign_noise(folder: CampaignFolder) -> Optional[NoiseRecord]:
    meta = load_or(CampaignMeta, folder.meta)
    return meta.noise if meta is not None else None


def missing_seeds(folder: CampaignFolder, profile) -> list[int]:
    """Noise seeds (beyond candidate 0's) not run yet; [] once the floor is recorded."""
    if profile.noise_seeds <= 1 or campaign_noise(folder) is not None:
        return []
    done = {r.seed for r in read_repeats(folder.noise)}
    return [s for s in noise_seeds(profile)[1:] if s not in done]


def record_seed(folder: CampaignFolder, seed: int, outcome) -> Repeat:
    row = Repeat("0000", seed, outcome.score if outcome.status == Status.SCORED else None, outcome.status,
                 outcome.runtime_s, outcome.image_id, outcome.reason)
    append_repeat(folder.noise, row)
    return row


def record_floor(folder: CampaignFolder, profile, rows: list[Row]) -> Optional[NoiseRecord]:
    """Once every noise seed has run and the baseline is logged: write the floor into campaign.json."""
    if profile.noise_seeds <= 1 or campaign_noise(folder) is not None or missing_seeds(folder, profile):
        return campaign_noise(folder)
    base = baseline_row(rows)
    if base is None:
        return None
    scores = {r.seed: r.score for r in read_repeats(folder.noise)}
    scores[base.seed] = base.score if base.scored else None
    floor = noise_floor(scores)
    meta = load(CampaignMeta, folder.meta)
    save(meta.model_copy(update={"noise": floor}), folder.meta)
    return floor
