"""Registered model variants for LEAF Reddit (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
A model maps token ids (n, 10) to next-token scores (n, 10, VOCAB_SIZE); the fixed inference
step (predict.py) keeps only their argmax.
"""
import torch
from torch import nn

VOCAB_SIZE = 10000      # LEAF's reddit_vocab.pck size


class StackedLSTM(nn.Module):
    """LEAF's reddit/stacked_lstm.py: embedding 10000x256, two LSTM layers of 256 (LSTMBlockCell,
    forget bias 0), softmax 256->10000 at every step (6,182,672 parameters); weights drawn
    uniformly from [-0.1, 0.1] (LEAF's init_scale), biases zero."""

    def __init__(self, hidden: int = 256, layers: int = 2, init_scale: float = 0.1, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.embedding = nn.Embedding(VOCAB_SIZE, hidden)
            self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
            self.out = nn.Linear(hidden, VOCAB_SIZE)
            with torch.no_grad():
                for name, param in self.named_parameters():
                    if "bias" in name:
                        param.zero_()
                    else:
                        param.uniform_(-init_scale, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(self.embedding(x.long()))
        return self.out(outputs)


MODELS = {"stacked_lstm": StackedLSTM}


def build_model(name: str = "stacked_lstm") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
