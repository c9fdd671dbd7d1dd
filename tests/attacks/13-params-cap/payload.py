

# ATTACK params-cap: a model much bigger than the budget allows, under the registered name.
class _Oversized(torch.nn.Module):
    def __init__(self):
        super().__init__()
        honest = MODELS["logreg"]()
        self.honest = honest
        self.extra = torch.nn.Parameter(torch.zeros(200_000))  # never used, always counted

    def forward(self, x):
        return self.honest(x) + 0.0 * self.extra.sum()


_build_honest = build_model


def build_model(name="logreg"):
    _build_honest(name)  # same validation as before
    return _Oversized()
