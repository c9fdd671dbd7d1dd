"""Registered model variants for LEAF Reddit (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
A model maps token ids (n, 10) to next-token scores (n, 10, VOCAB_SIZE); the fixed inference
step (predict.py) keeps only their argmax.
"""
import torch
from torch import nn

VOCAB_SIZE = 10000      # LEAF's reddit_vocab.pck size


class StackedRNN(nn.Module):
    """Embedding 10000xH, `layers` recurrent layers of H (`cell`: nn.LSTM or nn.GRU), softmax
    H->10000 at every step; weights drawn uniformly from [-init_scale, init_scale] (LEAF's
    init_scale), biases zero."""

    cell: type = nn.LSTM  # the recurrent layers' class (nn.LSTM or nn.GRU)

    def __init__(self, hidden: int = 256, layers: int = 2, init_scale: float = 0.1, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.embedding = nn.Embedding(VOCAB_SIZE, hidden)
            self.rnn = self.cell(hidden, hidden, num_layers=layers, batch_first=True)
            self.out = nn.Linear(hidden, VOCAB_SIZE)
            with torch.no_grad():
                for name, param in self.named_parameters():
                    if "bias" in name:
                        param.zero_()
                    else:
                        param.uniform_(-init_scale, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(x.long()))
        return self.out(outputs)


class StackedLSTM(StackedRNN):
    """LEAF's reddit/stacked_lstm.py (LSTMBlockCell, forget bias 0): 6,182,672 parameters."""

    cell = nn.LSTM


class StackedGRU(StackedRNN):
    """The same shape with GRU layers: 5,919,504 parameters."""

    cell = nn.GRU


MODELS = {"stacked_lstm": StackedLSTM, "stacked_gru": StackedGRU}


def build_model(name: str = "stacked_lstm") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
