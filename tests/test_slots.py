"""Resource slots for --parallel: disjoint CPU sets or GPU groups, never shared."""
from __future__ import annotations

import pytest

from afr_box.orchestrator.campaign.slots import Slot, plan_slots


def test_sequential_uses_everything():
    assert plan_slots(1, [0, 1], [], 0) == ([Slot("all")], "")


def test_cpu_slots_are_disjoint():
    slots, notice = plan_slots(2, [0, 1], [], 0)
    assert [s.cpuset for s in slots] == ["0", "1"] and notice == ""
    slots, _ = plan_slots(4, list(range(16)), [], 0)
    assert [s.cpuset for s in slots] == ["0,1,2,3", "4,5,6,7", "8,9,10,11", "12,13,14,15"]
    cpus = [set(s.cpuset.split(",")) for s in slots]
    assert all(a.isdisjoint(b) for i, a in enumerate(cpus) for b in cpus[i + 1:])


def test_more_slots_than_cpus_is_clamped_with_a_notice():
    slots, notice = plan_slots(3, [0, 1], [], 0)
    assert len(slots) == 2 and "exceeds" in notice


def test_gpu_slots_one_gpu_each_and_per_gpu_sharing():
    slots, _ = plan_slots(2, [0, 1], ["0", "1"], 1)
    assert [s.gpu_ids for s in slots] == [("0",), ("1",)] and all(s.cpuset is None for s in slots)
    shared, _ = plan_slots(4, [0, 1], ["0", "1"], 1, candidates_per_gpu=2)
    assert [s.gpu_ids for s in shared] == [("0",), ("0",), ("1",), ("1",)]
    few, notice = plan_slots(3, [0, 1], ["0"], 1)
    assert len(few) == 1 and "GPU slot" in notice


def test_parallel_must_be_positive():
    with pytest.raises(ValueError):
        plan_slots(0, [0, 1], [], 0)
