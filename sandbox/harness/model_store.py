"""The server's model persistor: trusted code in place of NVFlare's PTFileModelPersistor, which
builds the candidate's model class in the server (candidate code there could forge the round
count and the final model).

The initial weights come from the candidate's model, built in job.py's own process (export_job.py
writes them as .npz); the server loads them as NVFlare's PT persistor would (numpy arrays, in
state-dict order) and saves every new global model, with the round the controller is in, for the
runner to read (runner.final_model). Plain numpy files, no pickle, no torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from nvflare.apis.fl_context import FLContext
from nvflare.app_common.abstract.model import ModelLearnable, ModelLearnableKey, make_model_learnable
from nvflare.app_common.abstract.model_persistor import ModelPersistor
from nvflare.app_common.app_constant import AppConstants

from afr_box.sandbox.harness.fl_wire import as_numpy

ROUND_SUFFIX = ".round.json"


def save_arrays(path: Path, arrays: dict) -> None:
    """Atomically: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{k: as_numpy(v) for k, v in arrays.items()})
    os.replace(tmp, path)


class TrustedPersistor(ModelPersistor):
    def __init__(self, initial: str, final: str):
        super().__init__()
        self.initial, self.final = initial, final  # same-name attributes, for NVFlare's config builder

    def load_model(self, fl_ctx: FLContext) -> ModelLearnable:
        with np.load(self.initial, allow_pickle=False) as npz:
            weights = {name: npz[name] for name in npz.files}
        return make_model_learnable(weights, None)

    def save_model(self, model: ModelLearnable, fl_ctx: FLContext):
        current = fl_ctx.get_prop(AppConstants.CURRENT_ROUND)
        final = Path(self.final)
        save_arrays(final, model[ModelLearnableKey.WEIGHTS])
        tmp = final.with_name(f".{final.name}{ROUND_SUFFIX}.tmp")
        tmp.write_text(json.dumps({"round": current if isinstance(current, int) else None}))
        os.replace(tmp, final.with_name(final.name + ROUND_SUFFIX))
