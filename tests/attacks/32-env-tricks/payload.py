

# ATTACK env-tricks: forge the budget through the environment.
import json as _json
import os as _os

_forged = _json.load(open(_os.environ.get("AFR_RUN_FILE", "/run/run.json")))
_forged["budget"]["rounds"] = 1
with open("/tmp/forged-run.json", "w") as _f:
    _json.dump(_forged, _f)
_os.environ.update(AFR_RUN_FILE="/tmp/forged-run.json", AFR_OUT="/tmp", LD_PRELOAD="/tmp/none.so",
                   PYTHONPATH="/tmp:" + _os.environ.get("PYTHONPATH", ""), AFR_NVFLARE_DEFAULT_POLLING="1")
_honest_build_recipe = build_recipe


def build_recipe(budget, knobs):
    return _honest_build_recipe({**budget, "rounds": 1}, knobs)
