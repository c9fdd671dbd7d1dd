"""FLModels over a pipe between the trusted NVFlare server and the aggregator worker, without pickle.

A message is a JSON header and an .npz of its arrays (allow_pickle=False on both ends). Values
are tagged (["D", pairs], ["L", items], ["T", items], ["B", base64], ["A", index, was_torch]),
so nothing a candidate puts in a meta or metrics dict is mistaken for a tag. Arrays keep their
dtype, and a torch tensor comes back a torch tensor: the aggregator sees what it saw in the
server, and the server gets back what it got before.
"""
from __future__ import annotations

import base64
import enum
import io
import json
import math
import numbers
import struct
from typing import Any, BinaryIO, Optional

import numpy as np

MAX_HEADER = 64 << 20
MAX_ARRAYS = 16 << 30  # what one message's arrays may take; beyond, the container's memory is the limit anyway
_LEN = struct.Struct("=QQ")
MODEL_FIELDS = ("params_type", "params", "metrics", "meta", "current_round", "total_rounds", "start_round")


class WireError(ValueError):
    """A message that does not follow the format (from a broken or hostile peer)."""


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def as_numpy(value: Any) -> np.ndarray:
    """An array or tensor as a numpy array (bfloat16, which numpy lacks, as float32)."""
    if _is_torch(value):
        import torch

        tensor = value.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return np.asarray(value)


def _encode(value: Any, arrays: list, depth: int = 0) -> Any:
    if depth > 32:
        raise TypeError("nested more than 32 levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return _encode(value.value, arrays, depth + 1)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else ["F", repr(number)]
    if isinstance(value, (bytes, bytearray)):
        return ["B", base64.b64encode(bytes(value)).decode()]
    if _is_torch(value) or isinstance(value, np.ndarray) or isinstance(value, np.generic):
        was_torch = _is_torch(value)
        array = as_numpy(value)
        if array.dtype == object:
            raise TypeError("an object array")
        arrays.append(array)
        return ["A", len(arrays) - 1, was_torch]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict with a key that is not a string")
        return ["D", [[k, _encode(v, arrays, depth + 1)] for k, v in value.items()]]
    if isinstance(value, (list, tuple)):
        return ["L" if isinstance(value, list) else "T", [_encode(v, arrays, depth + 1) for v in value]]
    raise TypeError(f"a {type(value).__name__}")


def _decode(value: Any, arrays: list, depth: int = 0) -> Any:
    if depth > 33:
        raise WireError("nested too deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise WireError("an untagged value")
    tag, rest = value[0], value[1:]
    try:
        if tag == "F":
            return float(rest[0])
        if tag == "B":
            return base64.b64decode(rest[0], validate=True)
        if tag == "A":
            index, was_torch = int(rest[0]), bool(rest[1])
            array = arrays[index]
            if was_torch:
                import torch

                return torch.from_numpy(np.ascontiguousarray(array))
            return array
        if tag == "D":
            return {str(k): _decode(v, arrays, depth + 1) for k, v in rest[0]}
        if tag in ("L", "T"):
            items = [_decode(v, arrays, depth + 1) for v in rest[0]]
            return items if tag == "L" else tuple(items)
    except (IndexError, TypeError, ValueError) as exc:
        raise WireError(f"a malformed {tag!r} value ({exc})") from None
    raise WireError(f"an unknown tag {tag[:20]!r}")


def send(stream: BinaryIO, message: dict) -> None:
    """Write one message (a dict of plain values, arrays and tensors anywhere inside)."""
    arrays: list = []
    header = json.dumps(_encode(message, arrays)).encode()
    buf = io.BytesIO()
    np.savez(buf, *arrays)
    blob = buf.getvalue()
    stream.write(_LEN.pack(len(header), len(blob)) + header + blob)
    stream.flush()


def receive(stream: BinaryIO) -> Optional[dict]:
    """The next message; None at a clean end of stream; WireError for anything malformed."""
    head = stream.read(_LEN.size)
    if not head:
        return None
    if len(head) != _LEN.size:
        raise WireError("a truncated message")
    n_header, n_blob = _LEN.unpack(head)
    if n_header > MAX_HEADER or n_blob > MAX_ARRAYS:
        raise WireError(f"a message of {n_header} + {n_blob} bytes")
    header, blob = stream.read(n_header), stream.read(n_blob)
    if len(header) != n_header or len(blob) != n_blob:
        raise WireError("a truncated message")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        message = _decode(json.loads(header), arrays)
    except WireError:
        raise
    except Exception as exc:  # a broken npz or JSON, an object array (refused without pickle)
        raise WireError(f"an unreadable message ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(message, dict):
        raise WireError("a message that is not a dict")
    return message


def model_fields(model: Any) -> dict:
    """What of an FLModel crosses the wire."""
    fields = {name: getattr(model, name, None) for name in MODEL_FIELDS}
    fields["params_type"] = None if fields["params_type"] is None else str(getattr(fields["params_type"], "value",
                                                                                 fields["params_type"]))
    return fields


def to_model(fields: Any):
    """An FLModel from model_fields' dict (WireError for anything else)."""
    from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

    if not isinstance(fields, dict) or set(fields) - set(MODEL_FIELDS):
        raise WireError("not an FLModel's fields")
    params = fields.get("params")
    if params is not None and not isinstance(params, dict):
        raise WireError("FLModel params that are not a dict")
    for name in ("metrics", "meta"):
        if fields.get(name) is not None and not isinstance(fields[name], dict):
            raise WireError(f"FLModel {name} that is not a dict")
    for name in ("current_round", "total_rounds", "start_round"):
        if fields.get(name) is not None and (isinstance(fields[name], bool) or not isinstance(fields[name], int)):
            raise WireError(f"FLModel {name} that is not an integer")
    try:
        params_type = None if fields.get("params_type") is None else ParamsType(fields["params_type"])
    except ValueError:
        raise WireError(f"an unknown params_type {str(fields['params_type'])[:40]!r}") from None
    return FLModel(params_type=params_type, params=params, metrics=fields.get("metrics"), meta=fields.get("meta") or {},
                   current_round=fields.get("current_round"), total_rounds=fields.get("total_rounds"),
                   start_round=fields.get("start_round") or 0)
