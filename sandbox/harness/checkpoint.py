"""Reads the final global model NVFlare's persistor wrote (a torch zip checkpoint) as numpy
arrays, without importing torch: the runner's last step, where a torch import (about 1.4 s of a
heart candidate) bought nothing but this read.

The checkpoint is written by the server process, where candidate code runs, so it is read like
`torch.load(weights_only=True)` reads it: an unpickler that knows only plain containers, the
tensor-rebuild function and the storage types below, each mapped to numpy; anything else
(another dtype such as bfloat16, a class, a callable) makes `read_state` return None, and the
caller falls back to torch's own weights-only loader.
"""
from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class Unsupported(Exception):
    """Something the numpy reader does not handle (the torch loader may)."""


class _Storage:
    def __init__(self, dtype):
        self.dtype = dtype


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, np.ndarray):
        raise Unsupported("a tensor whose storage is not a plain array")
    item = storage.itemsize
    if offset < 0 or any(s < 0 for s in stride) or any(n < 0 for n in size):
        raise Unsupported("negative shape or stride")
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else 0
    if extent > storage.size:
        raise Unsupported("a tensor that reaches past its storage")
    view = np.lib.stride_tricks.as_strided(storage[offset:] if storage.size else storage, shape=tuple(size),
                                           strides=tuple(s * item for s in stride))
    return np.array(view)  # a copy: contiguous, writable, independent of the zip's bytes


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(STORAGE_DTYPES[name])
        raise Unsupported(f"{module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Storage)):
            raise Unsupported(f"persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            data = self.archive.read(f"{self.prefix}/data/{key}")
            array = np.frombuffer(data, dtype=np.dtype(kind.dtype).newbyteorder("<"))
            if array.size != numel:
                raise Unsupported(f"storage {key!r} holds {array.size} items, not {numel}")
            self.storages[key] = array
        return self.storages[key]


def read_state(path: Path) -> Optional[dict[str, Any]]:
    """The checkpoint's top-level object with every tensor as a numpy array, or None when it holds
    something this reader does not know (the caller then uses torch.load(weights_only=True))."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                return None
            prefix = pickles[0][: -len("/data.pkl")]
            if f"{prefix}/byteorder" in names and archive.read(f"{prefix}/byteorder").strip() != b"little":
                return None
            with archive.open(pickles[0]) as f:
                return _Unpickler(f, archive, prefix).load()
    except (Unsupported, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError, TypeError,
            AttributeError, IndexError, EOFError):
        return None
