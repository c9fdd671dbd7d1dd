"""LEAF / FedProx Synthetic(alpha, beta) generator (fixed code, numpy only, deterministic).

The definition of Li et al., "Federated Optimization in Heterogeneous Networks" (FedProx),
which LEAF's Synthetic dataset builds on. For user k:

    u_k ~ N(0, alpha)       model heterogeneity: W_k, b_k ~ N(u_k, 1), shapes (d, C), (C,)
    B_k ~ N(0, beta)        data heterogeneity:  v_k ~ N(B_k, 1) in R^d
    x ~ N(v_k, Sigma)       Sigma diagonal, Sigma_jj = j^-1.2 (j = 1..d)
    y = argmax softmax(x W_k + b_k)

alpha and beta are standard deviations, as in the FedProx generator. Samples per user:
lognormal(4, 2) as an int, plus `min_samples`, capped at `max_samples` so that a campaign
stays CPU-sized. Each user draws from its own child of one SeedSequence, so a seed fixes
everything and user k's data does not depend on how many users follow it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class User:
    x: np.ndarray    # (n, d) float32
    y: np.ndarray    # (n,) int64


def samples_per_user(num_users: int, rng: np.random.Generator, min_samples: int, max_samples: int) -> np.ndarray:
    counts = rng.lognormal(4.0, 2.0, size=num_users).astype(np.int64) + min_samples
    return np.minimum(counts, max_samples)


def make_user(n: int, rng: np.random.Generator, alpha: float, beta: float,
              num_dim: int, num_classes: int) -> User:
    u = rng.normal(0.0, alpha)
    big_b = rng.normal(0.0, beta)
    v = rng.normal(big_b, 1.0, size=num_dim)
    w = rng.normal(u, 1.0, size=(num_dim, num_classes))
    b = rng.normal(u, 1.0, size=num_classes)
    std = np.arange(1, num_dim + 1, dtype=np.float64) ** -0.6     # sqrt(j^-1.2): diagonal Sigma
    x = v + std * rng.standard_normal((n, num_dim))
    y = np.argmax(x @ w + b, axis=1)        # softmax is monotone: argmax of the logits
    return User(x.astype(np.float32), y.astype(np.int64))


def generate_users(num_users: int, alpha: float, beta: float, num_dim: int = 60,
                   num_classes: int = 5, seed: int = 931, min_samples: int = 50,
                   max_samples: int = 400) -> list[User]:
    """Users 0..num_users-1 of Synthetic(alpha, beta)."""
    root = np.random.SeedSequence(seed)
    size_seed, *user_seeds = root.spawn(num_users + 1)
    counts = samples_per_user(num_users, np.random.default_rng(size_seed), min_samples, max_samples)
    return [make_user(int(n), np.random.default_rng(s), alpha, beta, num_dim, num_classes)
            for n, s in zip(counts, user_seeds)]


def split_user(user: User, test_fraction: float, rng: np.random.Generator) -> tuple[User, User]:
    """Shuffle one user's samples; the first round(test_fraction * n) (at least 1) are test."""
    order = rng.permutation(len(user.y))
    n_test = max(1, int(round(test_fraction * len(order))))
    test, train = order[:n_test], order[n_test:]
    return User(user.x[train], user.y[train]), User(user.x[test], user.y[test])


def client_of_user(user_id: int, num_clients: int) -> int:
    """Round-robin over user ids: user k goes to client k mod num_clients."""
    return user_id % num_clients
