"""The runner's torch-free read of NVFlare's final checkpoint (sandbox/harness/checkpoint.py):
the same arrays torch.load gives, for every dtype and layout it handles; anything else (bfloat16,
a hostile pickle) is left to torch's weights-only loader and never executed."""
from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import torch

from afr_box.sandbox.harness.checkpoint import read_state
from afr_box.sandbox.harness.runner import final_model


def test_every_dtype_and_layout_reads_as_torch_load_gives_it(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    shared = torch.randn(10)
    state = {"w": torch.randn(3, 5), "transposed": base.t(), "offset_slice": base[1:, 2:], "scalar": torch.tensor(3.5),
             "i8": torch.tensor([1, -2], dtype=torch.int8), "u8": torch.tensor([250], dtype=torch.uint8),
             "i16": torch.tensor([-3], dtype=torch.int16), "i32": torch.tensor([7], dtype=torch.int32),
             "long": torch.arange(5), "bool": torch.tensor([True, False]), "half": torch.randn(2).half(),
             "empty": torch.zeros(0, 3), "view_a": shared[2:5], "view_b": shared[::3]}
    torch.save({"model": state, "meta_props": {"current_round": 14}}, tmp_path / "m.pt")
    got = read_state(tmp_path / "m.pt")
    assert got["meta_props"] == {"current_round": 14}
    for key, tensor in state.items():
        want = tensor.numpy()
        assert got["model"][key].dtype == want.dtype and got["model"][key].shape == want.shape, key
        assert np.array_equal(got["model"][key], want), key


def test_bfloat16_falls_back_to_torch_and_reads_as_float32(tmp_path):
    ws = tmp_path / "ws" / "server" / "simulate_job" / "app_server"
    ws.mkdir(parents=True)
    weights = torch.randn(4).bfloat16()
    torch.save({"model": {"x": weights}, "meta_props": {"current_round": 2}}, ws / "FL_global_model.pt")
    assert read_state(ws / "FL_global_model.pt") is None
    model, last_round = final_model(tmp_path / "ws")
    assert last_round == 2 and model["x"].dtype == np.float32 and np.array_equal(model["x"], weights.float().numpy())


class _Boom:
    def __reduce__(self):
        return (open, ("/tmp/afr-checkpoint-test-was-executed", "w"))


def test_a_hostile_pickle_is_refused_not_run(tmp_path):
    buf = io.BytesIO()
    pickle.dump({"model": {"x": _Boom()}}, buf, protocol=2)
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
    marker = "/tmp/afr-checkpoint-test-was-executed"
    assert read_state(tmp_path / "evil.pt") is None
    import os

    assert not os.path.exists(marker)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    torch.save({"model": {"x": torch.arange(6.0)}}, tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in entries if n.endswith("data.pkl"))
    prefix = pkl[: -len("/data.pkl")]
    storage = next(n for n in entries if n.startswith(f"{prefix}/data/"))
    entries[storage] = entries[storage][:8]  # 2 floats left of 6: numel no longer matches
    with zipfile.ZipFile(tmp_path / "short.pt", "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    assert read_state(tmp_path / "short.pt") is None
