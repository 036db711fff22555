"""Tokens per expert under MoE routing: the expectation, and a seeded sample around it.

An expert's weights are read once per step however many tokens it serves, so its arithmetic
intensity grows with the tokens it receives. With expert parallelism (EP) over ``D``
devices, each device holds ``n_experts / D`` experts and receives the routed tokens of all
``D`` devices' batches, so the tokens reaching an expert grow with ``D``.
"""

from dataclasses import dataclass

import numpy as np

from ..hdl.errors import InputError, positive_int

__all__ = [
    "tokens_per_expert",
    "active_experts",
    "RoutingSample",
    "sample_routing",
    "zipf_probabilities",
    "expert_placement",
    "Imbalance",
    "zipf_imbalance",
]


def _check_routing(tokens: int, top_k: int, n_experts: int, ep_devices: int) -> None:
    positive_int("tokens", tokens)
    positive_int("top_k", top_k)
    positive_int("n_experts", n_experts)
    positive_int("ep_devices", ep_devices)
    if top_k > n_experts:
        raise ValueError(f"top_k must be <= n_experts ({n_experts}), got {top_k}")
    if ep_devices > n_experts:
        raise ValueError(f"ep_devices must be <= n_experts ({n_experts}), got {ep_devices}")


def tokens_per_expert(tokens: int, top_k: int, n_experts: int, ep_devices: int = 1) -> float:
    """Expected tokens an expert receives per step: ``tokens * top_k * ep_devices / n_experts``.

    Parameters
    ----------
    tokens : int
        Tokens per device per step (decode: batch x query tokens).
    top_k : int
        Routed experts per token.
    n_experts : int
        Routed experts in the layer.
    ep_devices : int
        Devices the experts are spread over; each receives the routed tokens of all of them.

    NB: the mean over all experts, idle ones included; uniform routing assumed.
    """
    _check_routing(tokens, top_k, n_experts, ep_devices)
    return tokens * top_k * ep_devices / n_experts


def active_experts(tokens: int, top_k: int, n_experts: int, ep_devices: int = 1) -> float:
    """Expected number of a device's experts that receive at least one token.

    A token picks ``top_k`` distinct experts out of ``n_experts``, so it misses a given expert
    with probability ``1 - top_k / n_experts``; the ``tokens * ep_devices`` tokens of the
    global batch all miss it with that probability to the power of their number. Only these
    experts' weights are read, which keeps a small batch from paying for every expert.

    NB: assumes tokens route independently and uniformly (no skew, no capacity limit); the
    experts a device holds count as ``n_experts / ep_devices`` even when that is fractional.
    """
    _check_routing(tokens, top_k, n_experts, ep_devices)
    p_idle = (1 - top_k / n_experts) ** (tokens * ep_devices)
    return n_experts / ep_devices * (1 - p_idle)


@dataclass(frozen=True)
class RoutingSample:
    """Tokens routed to each expert in one sampled step of the global batch.

    Members
    -------
    tokens : int
        Tokens routed (the global batch: per-device tokens x EP devices).
    top_k : int
    seed : int
    skew : float
        Standard deviation of the per-expert logit bias the sample was drawn with.
    counts : tuple of int
        Tokens per expert, one entry per routed expert.
    """

    tokens: int
    top_k: int
    seed: int
    skew: float
    counts: tuple[int, ...]

    @property
    def min(self) -> int:
        return min(self.counts)

    @property
    def mean(self) -> float:
        return sum(self.counts) / len(self.counts)

    @property
    def max(self) -> int:
        return max(self.counts)

    @property
    def min_active(self) -> int:
        """Tokens at the coldest expert that runs at all; an idle expert reads no weights."""
        return min(c for c in self.counts if c > 0)


def _route(bias: np.ndarray, tokens: int, top_k: int, noise) -> np.ndarray:
    """Tokens per expert when each of ``tokens`` tokens takes the ``top_k`` best of
    ``bias + noise(shape)``; routed in chunks so memory stays bounded (~32 MB of scores)."""
    n_experts = len(bias)
    counts = np.zeros(n_experts, dtype=np.int64)
    chunk = max(1, (1 << 22) // n_experts)
    for start in range(0, tokens, chunk):
        scores = bias + noise((min(chunk, tokens - start), n_experts))
        chosen = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
        counts += np.bincount(chosen.ravel(), minlength=n_experts)
    return counts


def sample_routing(
    tokens: int,
    top_k: int,
    n_experts: int,
    ep_devices: int = 1,
    seed: int = 0,
    skew: float = 0.0,
) -> RoutingSample:
    """Route the global batch once with a seeded random router and count tokens per expert.

    Each token scores every expert with ``bias[e] + noise[t, e]`` (standard normal noise) and
    goes to its ``top_k`` best, so it always picks distinct experts, as a top-k router does.
    ``skew = 0`` gives uniform routing; ``skew > 0`` draws ``bias`` from a normal of that
    standard deviation, making some experts persistently hot, as trained routers are.

    Parameters
    ----------
    tokens, top_k, n_experts, ep_devices : int
        As in :func:`tokens_per_expert`; ``tokens * ep_devices`` tokens are routed.
    seed : int
        Seed of ``numpy.random.default_rng``: the same arguments give the same counts.
    skew : float
        Standard deviation of the per-expert logit bias, >= 0.
    """
    _check_routing(tokens, top_k, n_experts, ep_devices)
    if skew < 0:
        raise ValueError(f"skew must be >= 0, got {skew!r}")
    rng = np.random.default_rng(seed)
    routed = tokens * ep_devices
    bias = rng.normal(0.0, skew, n_experts) if skew else np.zeros(n_experts)
    counts = _route(bias, routed, top_k, rng.standard_normal)
    return RoutingSample(
        tokens=routed, top_k=top_k, seed=seed, skew=skew, counts=tuple(int(c) for c in counts)
    )


def zipf_probabilities(n_experts: int, s: float) -> np.ndarray:
    """Routing probabilities of a Zipf law: the expert of popularity rank ``r`` (1 = hottest)
    is chosen with probability proportional to ``r ** -s``; ``s = 0`` is uniform."""
    positive_int("n_experts", n_experts)
    if not s >= 0:
        raise InputError(f"zipf s must be >= 0, got {s!r}")
    weights = np.arange(1, n_experts + 1, dtype=float) ** -s
    return weights / weights.sum()


def expert_placement(n_experts: int, ep_devices: int, seed: int = 0) -> np.ndarray:
    """Device of each expert: a seeded random permutation cut into ``ep_devices`` equal blocks.

    A random placement, not popularity order: placing the hottest experts together would be
    the worst case, one a deployment avoids.
    """
    positive_int("ep_devices", ep_devices)
    if n_experts % ep_devices:
        raise InputError(f"ep_devices must divide the {n_experts} experts, got {ep_devices}")
    order = np.random.default_rng(seed).permutation(n_experts)
    device = np.empty(n_experts, dtype=np.int64)
    device[order] = np.arange(n_experts) // (n_experts // ep_devices)
    return device


@dataclass(frozen=True)
class Imbalance:
    """Expert-token pairs per device in one Zipf-skewed routing sample.

    Members
    -------
    device_pairs : tuple of int
        Expert-token pairs each EP device computes.
    gamma : float
        Imbalance factor Gamma: the busiest device's pairs over the mean; 1 is balanced. An
        MoE layer waits for its busiest device, so its expert time is Gamma times the mean.
    busiest_share : float
        The busiest device's fraction of all pairs (``gamma / ep_devices``).
    """

    tokens: int
    top_k: int
    n_experts: int
    ep_devices: int
    zipf_s: float
    seed: int
    device_pairs: tuple[int, ...]
    gamma: float
    busiest_share: float


def zipf_imbalance(
    tokens: int, top_k: int, n_experts: int, ep_devices: int, zipf_s: float, seed: int = 0,
) -> Imbalance:
    """Route ``tokens`` tokens (the global batch) with Zipf-skewed popularity and measure Gamma.

    Each token takes ``top_k`` distinct experts, drawn without replacement in proportion to
    :func:`zipf_probabilities` (the Gumbel-top-k trick: the ``top_k`` best of
    ``log p + Gumbel noise``), so with ``top_k = 1`` expert ``e`` is chosen with probability
    ``p[e]`` exactly. Experts sit on devices by :func:`expert_placement` (same seed).

    NB: popularity is fixed for the sample (no load-balancing loss, no redundant experts);
    which experts are hot matters only through the placement.
    """
    _check_routing(tokens, top_k, n_experts, ep_devices)
    rng = np.random.default_rng(seed)
    counts = _route(np.log(zipf_probabilities(n_experts, zipf_s)), tokens, top_k, lambda shape: rng.gumbel(size=shape))
    pairs = np.bincount(expert_placement(n_experts, ep_devices, seed), weights=counts, minlength=ep_devices)
    device_pairs = tuple(int(p) for p in pairs)
    busiest = max(device_pairs)
    return Imbalance(
        tokens=tokens, top_k=top_k, n_experts=n_experts, ep_devices=ep_devices, zipf_s=zipf_s,
        seed=seed, device_pairs=device_pairs, gamma=busiest * ep_devices / (tokens * top_k),
        busiest_share=busiest / (tokens * top_k),
    )
