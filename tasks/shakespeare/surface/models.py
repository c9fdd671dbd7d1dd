"""Registered model variants for LEAF Shakespeare (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import torch
from torch import nn

NUM_LETTERS = 80
SEQ_LEN = 80


class StackedRNN(nn.Module):
    """Embedding 80x`embed`, `layers` recurrent layers of H (`cell`: nn.LSTM or nn.GRU), dense
    H->80 on the last step's output. TensorFlow's BasicLSTMCell adds 1.0 to the forget gate; for
    an LSTM that is put into the forget-gate bias here."""

    cell: type = nn.LSTM  # the recurrent layers' class (nn.LSTM or nn.GRU)

    def __init__(self, embed: int = 8, hidden: int = 256, layers: int = 2, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.embedding = nn.Embedding(NUM_LETTERS, embed)
            self.rnn = self.cell(embed, hidden, num_layers=layers, batch_first=True)
            self.out = nn.Linear(hidden, NUM_LETTERS)
            if self.cell is nn.LSTM:
                with torch.no_grad():
                    for name, bias in self.rnn.named_parameters():
                        if name.startswith("bias_ih"):
                            bias[hidden:2 * hidden] += 1.0   # gate order i, f, g, o

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(x.long()))
        return self.out(outputs[:, -1, :])


class StackedLSTM(StackedRNN):
    """LEAF's shakespeare/stacked_lstm.py: 819,920 parameters."""

    cell = nn.LSTM


class StackedGRU(StackedRNN):
    """The same shape with GRU layers: 620,240 parameters."""

    cell = nn.GRU


MODELS = {"stacked_lstm": StackedLSTM, "stacked_gru": StackedGRU}


def build_model(name: str = "stacked_lstm") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
