# ATTACK round-metrics-oversized: a 2 MB "learning curve" where the host looks for the runner's.
import json as _json

with open("/out/round_metrics.json", "w") as _f:
    _json.dump({"rounds": [{"round": r, "aggregate": {"train_loss": 1.0 / (r + 1)}} for r in range(40000)]}, _f)
raise SystemExit("ATTACK round-metrics-oversized planted")
