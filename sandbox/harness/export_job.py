"""Runs the candidate's `job.py` and exports its recipe, in a process of its own.

    python -m afr_box.sandbox.harness.export_job <work dir> [--no-site]

Started by the runner with the merged task view already on PYTHONPATH. Candidate code runs
here, never in the runner's own process (nor in NVFlare's server: the model the server starts
from is built here too, and saved as plain arrays), so whatever it patches or sets (harness modules,
environment variables, the budget dict) dies with this process; the runner checks what was
exported from the outside. With --no-site (a sandbox run) it first gives up reading any site's
data (site isolation, sites.py). Exits with ExitCode OK, JOB_FAILED or BUDGET_VIOLATION.
The error (if any) is the last stdout line starting with ERROR_PREFIX (a pipe, not a file: the
candidate may have filled /tmp).
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from afr_box.sandbox.harness.channel_filter import deny_local_channels
from afr_box.sandbox.harness.errors import BudgetViolation
from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.landlock import restrict_reads
from afr_box.sandbox.harness.paths import RUN_FILE
from afr_box.sandbox.harness.model_store import save_arrays
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.server_config import INITIAL_WEIGHTS, build, model_spec
from afr_box.sandbox.harness.sites import readable
from afr_box.sandbox.harness.surface_import import load_module
from afr_box.tasks.shared import site_env
ERROR_PREFIX = "AFR-EXPORT-ERROR: "


def main(work: Path, no_site: bool = False) -> int:
    run = RunFile.read(os.environ.get("AFR_RUN_FILE", RUN_FILE))
    if no_site:
        restrict_reads(readable(site_env.data_dir(), run.sites, None))
        deny_local_channels()  # the site broker's socket is up while job.py runs: no way to ask it for a worker
    view = Path(os.environ["AFR_SURFACE"])
    try:
        job = load_module("job", view / run.task / "job.py")
        recipe = job.build_recipe(dict(run.budget), site_env.knobs())
        recipe.export(str(work / "job"))
        save_initial_weights(work)
    except BudgetViolation as exc:
        _report(f"budget violation: {exc}")
        return ExitCode.BUDGET_VIOLATION
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from candidate code too
        traceback.print_exc()
        _report(f"job.py failed: {type(exc).__name__}: {exc}")
        return ExitCode.JOB_FAILED
    return ExitCode.OK


def save_initial_weights(work: Path) -> None:
    """The model the exported server config names, built here (candidate code: never in the server,
    server_config.py), its state dict saved for the server's trusted persistor."""
    configs = list((work / "job").glob("*/*/config/config_fed_server.json"))
    spec = model_spec(json.loads(configs[0].read_text())) if len(configs) == 1 else None
    if spec is None:
        return  # the runner's check says what is missing
    model = build(spec)
    save_arrays(work / INITIAL_WEIGHTS, dict(model.state_dict()))


def _report(error: str) -> None:
    print("\n" + ERROR_PREFIX + " ".join(error.split())[:2000], flush=True)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), "--no-site" in sys.argv[2:]))
