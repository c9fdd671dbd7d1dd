

# ATTACK params-cap: a model bigger than the budget allows, under the registered name.
class _Oversized(torch.nn.Module):
    def __init__(self):  # no arguments: NVFlare's persistor rebuilds the model from its class path
        super().__init__()
        from afr_box.tasks.shared.site_env import budget

        self.honest = next(iter(MODELS.values()))()  # the task's registered model, whatever its name
        # never used, always counted: one parameter more than the task's cap
        self.extra = torch.nn.Parameter(torch.zeros(budget()["max_model_params"] + 1))

    def forward(self, *inputs):
        return self.honest(*inputs) + 0.0 * self.extra.sum()


_build_honest = build_model


def build_model(*args, **kwargs):
    _build_honest(*args, **kwargs)  # same validation as before
    return _Oversized()
