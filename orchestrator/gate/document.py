"""`contract.md`: what the gate checks, for whoever writes candidates, from the gate's own text.

The check list is `GATE_CHECKS` and the NVFlare contract is `contract.py`'s docstring, the same
text the checks are written against; the policy's globs and limits and the profile's bounds are
filled in, so the document cannot say something the gate does not enforce.
"""
from __future__ import annotations

import textwrap

from afr_box.orchestrator.gate import contract
from afr_box.orchestrator.gate.checks import GATE_CHECKS, KNOBS_FILE
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import BUDGET_KEYS, Profile


def contract_markdown(profile: Profile, policy: Policy) -> str:
    task, limits, steps = profile.task, policy.limits, profile.budget.local_steps
    checks = "\n".join(f"{i}. **{name}**: {what}" for i, (name, what) in enumerate(GATE_CHECKS.items(), 1))
    globs = "\n".join(f"- `{g}`" for g in policy.globs_for(task))
    return f"""# The contract of a `{task}` candidate (policy `{policy.name}`)

Every candidate is checked on the host before anything is built: the checks below run in this
order and the first that fails makes the candidate a `rejected` row with its reason (no image,
no container, no score). `afr-box check` runs them all on your workspace and prints each verdict.

## The checks

{checks}

## The surface

Only these files (paths as under `tasks/`, `surface/` left out) may be in a candidate:

{globs}

At most {limits.max_files} files, {limits.max_file_bytes} bytes per file, {limits.max_total_bytes} bytes in all.

## The NVFlare contract

{textwrap.dedent(contract.__doc__ or "").strip()}

## Knobs

`{task}/{KNOBS_FILE}` is a mapping of knob names to values. It never names a budget field
({", ".join(sorted(BUDGET_KEYS))}): the budget comes from the profile. `local_steps`, when set, is an
integer within [{steps.min}, {steps.max}].
"""
