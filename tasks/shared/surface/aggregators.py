"""Deterministic server-side aggregation rules for NVFlare's FedAvg controller.

Every rule here is an NVFlare ``ModelAggregator`` (``accept_model`` / ``aggregate_model`` /
``reset_stats``), so ``FedAvgRecipe(aggregator=...)`` hands it to the FedAvg controller as is
(a plain ``Aggregator`` would silently be replaced by the built-in average).

Contract
--------
* Clients send **DIFF** updates: ``FLModel.params_type == ParamsType.DIFF`` and ``params`` a
  dict ``name -> array`` (numpy arrays; torch tensors are accepted and converted).
* ``meta["NUM_STEPS_CURRENT_ROUND"]`` (``FLMetaKey.NUM_STEPS_CURRENT_ROUND``) is a client's
  aggregation weight (1.0 when missing).
* The contributing site's name is ``meta["client_name"]``: NVFlare's model controllers
  (``BaseModelController._process_result``) set it from ``client_task.client.name`` before
  calling the FedAvg callback that calls ``accept_model``. The Shareable path
  (``accept(shareable, fl_ctx)``, used by ScatterAndGather) fills it from the peer context.
* ``aggregate_model()`` returns an ``FLModel`` with ``params_type=DIFF`` holding the step the
  server applies: the controller does ``global_new = global_old + step``
  (``FLModelUtils.update_model``). ``server_lr`` scales that step.

Determinism
-----------
NVFlare's built-in average sums in arrival order, which is not bit-reproducible with three or
more clients. Here updates are collected keyed by client name and reduced in **sorted client
order in float64**, then cast back to the incoming dtype (integer tensors are rounded), so the
result does not depend on the order in which clients report.

Constructor arguments are stored as same-name attributes as plain Python numbers, because
NVFlare's job exporter serializes a component from ``__init__``'s parameters and the
same-name attributes (numpy scalars would not serialize).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from nvflare.apis.fl_constant import FLMetaKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import Shareable
from nvflare.app_common.abstract.fl_model import FLModel, ParamsType
from nvflare.app_common.aggregators.model_aggregator import ModelAggregator
from nvflare.app_common.utils.fl_model_utils import FLModelUtils

__all__ = [
    "AGGREGATORS",
    "CoordinateMedian",
    "FedAdam",
    "FedAvgM",
    "Scaffold",
    "UniformFedAvg",
    "WeightedFedAvg",
    "build_aggregator",
]

CLIENT_NAME_KEY = "client_name"  # set by nvflare BaseModelController._process_result
# SCAFFOLD's control variates travel in FLModel.meta: the server's c to the clients (the FedAvg
# controller hands the aggregate's meta on with the next global model), each client's change of
# its own c_i back to the server.
SCAFFOLD_GLOBAL_KEY = "scaffold_c"
SCAFFOLD_DELTA_KEY = "scaffold_dc"


def pack_array(arr: np.ndarray) -> bytes:
    """An array as .npy bytes: the global model's meta is saved with it, and the harness reads that
    file with torch.load(weights_only=True), which takes bytes but no numpy objects."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def unpack_array(data: bytes) -> np.ndarray:
    import io

    return np.load(io.BytesIO(data), allow_pickle=False)
_UNKNOWN_NAMES = {"", "unknown"}  # AppConstants.CLIENT_UNKNOWN == "unknown"


def _to_numpy(name: str, value: Any) -> Tuple[np.ndarray, bool]:
    """Return (array, was_torch) for one parameter value."""
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy(), True
    try:
        arr = np.asarray(value)
    except Exception as e:  # pragma: no cover - defensive
        raise TypeError(f"parameter {name!r}: cannot convert {type(value).__name__} to an array: {e}") from e
    if arr.dtype == object:
        raise TypeError(f"parameter {name!r}: value of type {type(value).__name__} is not numeric")
    return arr, False


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a number, got {value!r}") from e
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


class _Update:
    __slots__ = ("params", "weight", "dtypes", "torch_keys", "metrics")

    def __init__(self, params, weight, dtypes, torch_keys, metrics):
        self.params: Dict[str, np.ndarray] = params  # float64 copies
        self.weight: float = weight
        self.dtypes: Dict[str, np.dtype] = dtypes
        self.torch_keys: set = torch_keys
        self.metrics: Optional[dict] = metrics


class _DeterministicAggregator(ModelAggregator):
    """Collects DIFF updates by client name; subclasses turn them into the server step."""

    def __init__(self, server_lr: float = 1.0):
        super().__init__()
        self.server_lr = _as_float("server_lr", server_lr)
        self._updates: Dict[str, _Update] = {}

    # ------------------------------------------------------------------ NVFlare hooks
    def accept(self, shareable: Shareable, fl_ctx: FLContext) -> bool:
        """Shareable path (ScatterAndGather): take the site name from the peer context."""
        self.fl_ctx = fl_ctx
        model = FLModelUtils.from_shareable(shareable, fl_ctx)
        if not self._name_from_meta(model.meta):
            peer = fl_ctx.get_peer_context() if fl_ctx is not None else None
            name = peer.get_identity_name() if peer is not None else None
            if name:
                model.meta[CLIENT_NAME_KEY] = name
        self.accept_model(model)
        return True

    def reset_stats(self):
        """Forget this round's updates (cross-round optimizer state is kept)."""
        self._updates = {}

    def accept_model(self, model: FLModel):
        if not isinstance(model, FLModel):
            raise TypeError(f"{type(self).__name__}.accept_model expects an FLModel, got {type(model).__name__}")
        params_type = model.params_type
        if params_type is None or ParamsType(params_type) != ParamsType.DIFF:
            raise ValueError(
                f"{type(self).__name__} aggregates DIFF updates only; got params_type={params_type!r}. "
                "Send FLModel(params_type=ParamsType.DIFF, ...) from the client."
            )
        meta = model.meta or {}
        name = self._name_from_meta(meta)
        if not name:
            raise ValueError(
                f"{type(self).__name__}: the update carries no client name (meta['client_name']); "
                "cannot aggregate deterministically without it."
            )
        if name in self._updates:
            raise ValueError(f"{type(self).__name__}: client {name!r} already contributed to this round")
        if not isinstance(model.params, dict) or not model.params:
            raise ValueError(f"{type(self).__name__}: client {name!r} sent no parameters (params must be a non-empty dict)")

        params, dtypes, torch_keys = {}, {}, set()
        for key in sorted(model.params):
            arr, was_torch = _to_numpy(key, model.params[key])
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                raise TypeError(f"client {name!r} parameter {key!r} has non-numeric dtype {arr.dtype}")
            dtypes[key] = arr.dtype
            params[key] = arr.astype(np.float64, copy=True)
            if was_torch:
                torch_keys.add(key)

        if self._updates:
            ref_name = min(self._updates)
            self._check_compatible(ref_name, self._updates[ref_name].params, name, params)

        weight = self._weight_from_meta(name, meta)
        metrics = model.metrics if isinstance(model.metrics, dict) else None
        self._updates[name] = _Update(params, weight, dtypes, torch_keys, metrics)
        if self.fl_ctx is not None:
            self.info(f"accepted DIFF update from {name} (weight {weight:g})")

    def aggregate_model(self) -> FLModel:
        if not self._updates:
            raise RuntimeError(
                f"{type(self).__name__}.aggregate_model: no client updates were accepted this round"
            )
        names = sorted(self._updates)
        updates = [self._updates[n] for n in names]
        step64 = self._compute_step(names, updates)

        out_params = {}
        for key in sorted(step64):
            dtype = np.result_type(*[u.dtypes[key] for u in updates])
            value = step64[key]
            if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
                value = np.rint(value)
            arr = np.asarray(value).astype(dtype)
            if any(key in u.torch_keys for u in updates):
                import torch

                arr = torch.from_numpy(np.ascontiguousarray(arr))
            out_params[key] = arr

        weights = {n: u.weight for n, u in zip(names, updates)}
        result = FLModel(
            params_type=ParamsType.DIFF,
            params=out_params,
            metrics=self._aggregate_metrics(updates),
            meta={
                "aggregator": type(self).__name__,
                "contributors": list(names),
                "aggregation_weights": weights,
            },
        )
        self._updates = {}  # ModelAggregator contract: aggregate_model resets round stats
        return result

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _name_from_meta(meta: Optional[dict]) -> Optional[str]:
        if not meta:
            return None
        for key in (CLIENT_NAME_KEY, FLMetaKey.SITE_NAME):
            value = meta.get(key)
            if isinstance(value, str) and value not in _UNKNOWN_NAMES:
                return value
        return None

    def _weight_from_meta(self, name: str, meta: dict) -> float:
        value = meta.get(FLMetaKey.NUM_STEPS_CURRENT_ROUND)
        if value is None:
            return 1.0
        weight = _as_float(f"client {name!r} NUM_STEPS_CURRENT_ROUND", value)
        if weight < 0:
            raise ValueError(f"client {name!r} NUM_STEPS_CURRENT_ROUND must be >= 0, got {value!r}")
        return weight

    def _check_compatible(self, ref_name: str, ref: Dict[str, np.ndarray], name: str, params: Dict[str, np.ndarray]):
        if set(ref) != set(params):
            missing = sorted(set(ref) - set(params))
            extra = sorted(set(params) - set(ref))
            raise ValueError(
                f"{type(self).__name__}: client {name!r} parameter keys differ from client {ref_name!r}: "
                f"missing {missing}, unexpected {extra}"
            )
        for key in sorted(ref):
            if ref[key].shape != params[key].shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {key!r} has shape {params[key].shape} from client "
                    f"{name!r} but {ref[key].shape} from client {ref_name!r}"
                )

    @staticmethod
    def _weighted_mean(updates: List[_Update], weights: List[float]) -> Dict[str, np.ndarray]:
        """sum_i w_i x_i / sum_i w_i, accumulated in float64 in the given (sorted) order."""
        total = 0.0
        for w in weights:
            total += w
        if not total > 0:
            raise ValueError(f"aggregation weights sum to {total}; at least one client needs a positive weight")
        mean = {}
        for key in sorted(updates[0].params):
            acc = np.zeros(updates[0].params[key].shape, dtype=np.float64)
            for u, w in zip(updates, weights):
                acc += w * u.params[key]
            mean[key] = acc / total
        return mean

    def _mean_diff(self, updates: List[_Update]) -> Dict[str, np.ndarray]:
        return self._weighted_mean(updates, [u.weight for u in updates])

    @staticmethod
    def _aggregate_metrics(updates: List[_Update]) -> Optional[dict]:
        """Weighted mean of the scalar numeric metrics every client reported (sorted order)."""
        if any(u.metrics is None for u in updates):
            return None
        common = set(updates[0].metrics)
        for u in updates[1:]:
            common &= set(u.metrics)
        out = {}
        for key in sorted(common):
            values = [u.metrics[key] for u in updates]
            if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) for v in values):
                continue
            weights = [u.weight for u in updates]
            total = sum(weights)
            if total > 0:
                acc = 0.0
                for v, w in zip(values, weights):
                    acc += w * float(v)
                out[key] = acc / total
            else:
                out[key] = float(np.mean(np.asarray(values, dtype=np.float64)))
        return out or None

    def _compute_step(self, names: List[str], updates: List[_Update]) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    def _check_state_keys(self, state: Dict[str, np.ndarray], d: Dict[str, np.ndarray], what: str):
        if set(state) != set(d):
            raise ValueError(
                f"{type(self).__name__}: parameter keys changed between rounds; {what} has {sorted(state)}, "
                f"this round has {sorted(d)}"
            )
        for key in state:
            if state[key].shape != d[key].shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {key!r} changed shape between rounds: "
                    f"{state[key].shape} -> {d[key].shape}"
                )


class WeightedFedAvg(_DeterministicAggregator):
    """step = server_lr * sum_i n_i d_i / sum_i n_i, n_i = NUM_STEPS_CURRENT_ROUND (default 1)."""

    def __init__(self, server_lr: float = 1.0):
        super().__init__(server_lr=server_lr)

    def _compute_step(self, names, updates):
        mean = self._mean_diff(updates)
        return {k: self.server_lr * v for k, v in mean.items()}


class UniformFedAvg(_DeterministicAggregator):
    """step = server_lr * mean_i d_i (every client counts the same)."""

    def __init__(self, server_lr: float = 1.0):
        super().__init__(server_lr=server_lr)

    def _compute_step(self, names, updates):
        mean = self._weighted_mean(updates, [1.0] * len(updates))
        return {k: self.server_lr * v for k, v in mean.items()}


class FedAvgM(_DeterministicAggregator):
    """Server momentum (Hsu et al. 2019): d = weighted mean diff; v = momentum*v + d; step = server_lr*v.

    The velocity ``v`` starts at zero and persists across rounds (``reset_stats`` keeps it).
    """

    def __init__(self, server_lr: float = 1.0, momentum: float = 0.9):
        super().__init__(server_lr=server_lr)
        self.momentum = _as_float("momentum", momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self._velocity: Optional[Dict[str, np.ndarray]] = None

    def _compute_step(self, names, updates):
        d = self._mean_diff(updates)
        if self._velocity is None:
            self._velocity = {k: np.zeros_like(v) for k, v in d.items()}
        self._check_state_keys(self._velocity, d, "the momentum buffer")
        for k in sorted(d):
            self._velocity[k] = self.momentum * self._velocity[k] + d[k]
        return {k: self.server_lr * self._velocity[k] for k in sorted(d)}


class FedAdam(_DeterministicAggregator):
    """FedAdam from Reddi et al., "Adaptive Federated Optimization" (ICLR 2021), Algorithm 2.

    Pseudo-gradient d = weighted mean client diff (``Delta_t``); then
    ``m = beta1*m + (1-beta1)*d``, ``v = beta2*v + (1-beta2)*d**2``,
    ``step = server_lr * m / (sqrt(v) + eps)``.

    As in the paper there is **no bias correction** of ``m`` and ``v`` (unlike Adam), so the
    first rounds' steps are not rescaled by ``1/(1-beta^t)``. The paper's ``tau`` (adaptivity)
    is ``eps`` here. ``m`` and ``v`` start at zero and persist across rounds.
    """

    def __init__(self, server_lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(server_lr=server_lr)
        self.beta1 = _as_float("beta1", beta1)
        self.beta2 = _as_float("beta2", beta2)
        self.eps = _as_float("eps", eps)
        for label, b in (("beta1", self.beta1), ("beta2", self.beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {b!r}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self._m: Optional[Dict[str, np.ndarray]] = None
        self._v: Optional[Dict[str, np.ndarray]] = None

    def _compute_step(self, names, updates):
        d = self._mean_diff(updates)
        if self._m is None:
            self._m = {k: np.zeros_like(x) for k, x in d.items()}
            self._v = {k: np.zeros_like(x) for k, x in d.items()}
        self._check_state_keys(self._m, d, "the first-moment buffer")
        step = {}
        for k in sorted(d):
            self._m[k] = self.beta1 * self._m[k] + (1.0 - self.beta1) * d[k]
            self._v[k] = self.beta2 * self._v[k] + (1.0 - self.beta2) * np.square(d[k])
            step[k] = self.server_lr * self._m[k] / (np.sqrt(self._v[k]) + self.eps)
        return step


class CoordinateMedian(_DeterministicAggregator):
    """step = server_lr * coordinate-wise median of the client diffs (weights ignored).

    With an even number of clients the median is the mean of the two middle values.
    """

    def __init__(self, server_lr: float = 1.0):
        super().__init__(server_lr=server_lr)

    def _compute_step(self, names, updates):
        step = {}
        for k in sorted(updates[0].params):
            stacked = np.stack([u.params[k] for u in updates], axis=0)
            step[k] = self.server_lr * np.median(stacked, axis=0)
        return step


class Scaffold(_DeterministicAggregator):
    """SCAFFOLD's server rule (Karimireddy et al., "SCAFFOLD: Stochastic Controlled Averaging for
    Federated Learning", ICML 2020, Algorithm 1): step = server_lr * mean_i dy_i and
    c <- c + |S|/N * mean_i dc_i, uniform means over the clients of the round (|S| of the N seen).

    The clients correct every local gradient by (c - c_i) and report dc_i = c_i+ - c_i in
    ``meta[SCAFFOLD_DELTA_KEY]`` (``shared.local_training.ScaffoldClient``); the server's ``c``
    goes back to them in the aggregate's ``meta[SCAFFOLD_GLOBAL_KEY]`` (as .npy bytes, see
    ``pack_array``), which NVFlare's FedAvg controller makes the next global model's meta. ``c`` starts at zero and persists across rounds.
    """

    def __init__(self, server_lr: float = 1.0):
        super().__init__(server_lr=server_lr)
        self._c: Optional[Dict[str, np.ndarray]] = None
        self._deltas: Dict[str, Dict[str, np.ndarray]] = {}
        self._clients_seen: set = set()

    def reset_stats(self):
        super().reset_stats()
        self._deltas = {}

    def accept_model(self, model: FLModel):
        super().accept_model(model)
        name = self._name_from_meta(model.meta)
        delta = (model.meta or {}).get(SCAFFOLD_DELTA_KEY)
        if not isinstance(delta, dict) or not delta:
            raise ValueError(f"Scaffold: client {name!r} sent no control-variate change (meta[{SCAFFOLD_DELTA_KEY!r}]); "
                             "its client must use shared.local_training.ScaffoldClient")
        self._deltas[name] = {k: _to_numpy(k, v)[0].astype(np.float64) for k, v in sorted(delta.items())}
        self._clients_seen.add(name)

    def _compute_step(self, names, updates):
        mean = self._weighted_mean(updates, [1.0] * len(updates))
        deltas = [self._deltas[n] for n in names]
        keys = sorted(deltas[0])
        if any(sorted(d) != keys for d in deltas):
            raise ValueError("Scaffold: clients reported control-variate changes for different parameters")
        if self._c is None:
            self._c = {k: np.zeros_like(deltas[0][k]) for k in keys}
        self._check_state_keys(self._c, deltas[0], "the server control variate")
        share = len(names) / len(self._clients_seen)
        for k in keys:
            acc = np.zeros_like(self._c[k])
            for d in deltas:
                acc += d[k]
            self._c[k] = self._c[k] + share * acc / len(deltas)
        self._deltas = {}
        return {k: self.server_lr * v for k, v in mean.items()}

    def aggregate_model(self) -> FLModel:
        result = super().aggregate_model()
        result.meta[SCAFFOLD_GLOBAL_KEY] = {k: pack_array(v.astype(np.float32)) for k, v in sorted(self._c.items())}
        return result


AGGREGATORS: Dict[str, type] = {
    "weighted": WeightedFedAvg,
    "fedavg": UniformFedAvg,
    "fedavgm": FedAvgM,
    "fedadam": FedAdam,
    "median": CoordinateMedian,
    "scaffold": Scaffold,
}


def build_aggregator(
    name: str,
    server_lr: float,
    momentum: float = 0.9,
    betas: Tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> _DeterministicAggregator:
    """Instantiate the aggregator registered under ``name`` (see ``AGGREGATORS``)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {name!r}; valid names: {', '.join(sorted(AGGREGATORS))}")
    cls = AGGREGATORS[key]
    if cls is FedAvgM:
        return FedAvgM(server_lr=server_lr, momentum=momentum)
    if cls is FedAdam:
        b1, b2 = betas
        return FedAdam(server_lr=server_lr, beta1=b1, beta2=b2, eps=eps)
    return cls(server_lr=server_lr)
