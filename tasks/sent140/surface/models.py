"""Registered model variants for LEAF Sent140 (surface: mutable under architecture-open).

`knobs.yaml: model` picks one by name. Every constructor seeds its own initialisation so the
server and the clients build identical initial weights whatever the global RNG state.
"""
import numpy as np
import torch
from torch import nn

from afr_box.tasks.shared.site_env import data_dir

VOCAB_SIZE = 10000      # the bridge's vocabulary; id VOCAB_SIZE = unknown word and padding
EMBED_DIM = 300         # GloVe 6B 300d
GLOVE_FILE = "glove_embeddings.npy"


def glove_rows():
    """The GloVe matrix the bridge put into train/assets (given with --option glove=FILE), or None.
    Only the training container has it; the server builds the initial global model there."""
    path = data_dir() / "assets" / GLOVE_FILE
    if not path.is_file():
        return None
    rows = np.load(path, allow_pickle=False)
    if rows.shape != (VOCAB_SIZE + 1, EMBED_DIM):
        raise ValueError(f"{path}: expected GloVe rows of shape {(VOCAB_SIZE + 1, EMBED_DIM)}, got {rows.shape}")
    return torch.from_numpy(rows.astype(np.float32))


class StackedRNN(nn.Module):
    """Embedding of 300 (GloVe's size, initialised from the GloVe asset when there is one),
    `layers` recurrent layers of H (`cell`: nn.LSTM or nn.GRU), dense 128, dense 2 on the last
    step's output (LEAF puts no activation between the dense layers). TensorFlow's BasicLSTMCell
    adds 1.0 to the forget gate: for an LSTM, put into the forget-gate bias."""

    cell: type = nn.LSTM  # the recurrent layers' class (nn.LSTM or nn.GRU)

    def __init__(self, hidden: int = 100, layers: int = 2, init_seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.embedding = nn.Embedding(VOCAB_SIZE + 1, EMBED_DIM)
            self.rnn = self.cell(EMBED_DIM, hidden, num_layers=layers, batch_first=True)
            self.fc1 = nn.Linear(hidden, 128)
            self.out = nn.Linear(128, 2)
            with torch.no_grad():
                if self.cell is nn.LSTM:
                    for name, bias in self.rnn.named_parameters():
                        if name.startswith("bias_ih"):
                            bias[hidden:2 * hidden] += 1.0   # gate order i, f, g, o
                glove = glove_rows()
                if glove is not None:
                    self.embedding.weight.copy_(glove)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(self.embedding(x.long()))
        return self.out(self.fc1(outputs[:, -1, :]))


class StackedLSTM(StackedRNN):
    """LEAF's sent140/stacked_lstm.py (MODEL_PARAMS: two layers of 100): 3,255,086 parameters."""

    cell = nn.LSTM


class StackedGRU(StackedRNN):
    """The same shape with GRU layers: 3,194,686 parameters."""

    cell = nn.GRU


MODELS = {"stacked_lstm": StackedLSTM, "stacked_gru": StackedGRU}


def build_model(name: str = "stacked_lstm") -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]()
