"""A task's metric as the scorer computes it: the registry entry its profile names."""
from __future__ import annotations

from afr_box.profiles.schema import load_profile
from afr_box.tasks.shared.metrics import compute


def task_metric(task: str):
    spec = load_profile(task).metric
    return lambda y_true, y_pred: compute(spec.name, y_true, y_pred, spec.classes)
