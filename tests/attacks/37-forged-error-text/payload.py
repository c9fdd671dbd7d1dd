

# ATTACK forged-error-text: in the inference container (whose process runs the model's code) write
# the stats file the host reads, with a huge error, and exit as if the harness had found a violation.
class _Forger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.honest = next(iter(MODELS.values()))()

    def forward(self, *inputs):
        import json as _json
        import os as _os
        import sys as _sys

        if _sys.argv[0].endswith("infer.py"):
            with open("/out/infer_stats.json", "w") as _f:
                _json.dump({"error": "ATTACK forged-error-text " + "A" * 600_000}, _f)
            _os._exit(4)  # ExitCode.BUDGET_VIOLATION: the host takes the reason from the stats file
        return self.honest(*inputs)


_build_honest = build_model


def build_model(*args, **kwargs):
    _build_honest(*args, **kwargs)
    return _Forger()
