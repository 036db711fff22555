"""Deployment mappings: how a model's weights and sequences are spread over devices.

Tensor parallelism (TP) shards every non-expert weight matrix and the attention heads over
``tp`` devices; data parallelism (DP) replicates that group ``dp`` times, each replica with
its own sequences; expert parallelism (EP) spreads the routed experts over ``ep`` devices.
The paper's Table IV maps each evaluation model onto 32 devices.
"""

from dataclasses import dataclass

from ..hdl.errors import InputError, lookup, positive_int
from .models import GQAAttention, ModelConfig, get_model

__all__ = ["Mapping", "PAPER_MAPPINGS", "paper_mapping", "check_mapping", "kv_shards"]


@dataclass(frozen=True)
class Mapping:
    """TP, DP and EP degrees; ``tp * dp`` is the device count and ``ep`` divides it.

    Members
    -------
    tp, dp : int
    ep : int
        Devices the routed experts are spread over (1 for a dense model). With ``ep`` below
        the device count the experts are replicated ``devices / ep`` times.
    """

    tp: int
    dp: int
    ep: int = 1

    def __post_init__(self):
        for field in ("tp", "dp", "ep"):
            positive_int(field, getattr(self, field))

    @property
    def devices(self) -> int:
        return self.tp * self.dp

    def __str__(self) -> str:
        return f"TP{self.tp} x DP{self.dp}" + (f" with EP{self.ep}" if self.ep > 1 else "")


#: Table IV of arXiv 2507.15465 v3, on 32 devices. :func:`paper_mapping` keeps the TP degree
#: and spreads the experts over every device at other device counts.
PAPER_MAPPINGS = {
    "gpt-3-175b": Mapping(tp=8, dp=4),
    "llama-4-maverick": Mapping(tp=8, dp=4, ep=32),
    "deepseek-r1": Mapping(tp=1, dp=32, ep=32),
}


def paper_mapping(model: "str | ModelConfig", devices: int = 32) -> Mapping:
    """The paper's mapping of ``model``, scaled to ``devices``: its TP degree, DP over the
    rest, and (for MoE models) EP over every device.

    Raises
    ------
    InputError
        For a model without a paper mapping (listing those with one), or a device count
        the TP degree does not divide.
    """
    name = model.name if isinstance(model, ModelConfig) else model
    table = lookup(PAPER_MAPPINGS, name, "model with a paper mapping")
    positive_int("devices", devices)
    if devices % table.tp:
        raise InputError(f"devices must be a multiple of {name}'s TP degree {table.tp}, got {devices}")
    return check_mapping(model, Mapping(tp=table.tp, dp=devices // table.tp,
                                        ep=devices if table.ep > 1 else 1), devices)


def check_mapping(model: "str | ModelConfig", mapping: Mapping, devices: int) -> Mapping:
    """Return ``mapping`` if it deploys ``model`` on exactly ``devices`` devices.

    Raises
    ------
    InputError
        If ``tp * dp`` is not ``devices``; if ``ep`` does not divide ``devices`` or the routed
        expert count (or is not 1 for a dense model); if ``tp`` does not divide the
        attention heads.
    """
    model = get_model(model)
    positive_int("devices", devices)
    if mapping.devices != devices:
        raise InputError(f"mapping {mapping}: TP x DP = {mapping.devices} devices, but the device "
                         f"count is {devices}; the degrees must multiply to it")
    if model.moe is None:
        if mapping.ep != 1:
            raise InputError(f"model {model.name!r} has no experts: ep must be 1, got {mapping.ep}")
    elif devices % mapping.ep or model.moe.n_routed_experts % mapping.ep:
        raise InputError(f"ep must divide the device count {devices} and the "
                         f"{model.moe.n_routed_experts} routed experts of {model.name!r}, got {mapping.ep}")
    heads = model.attention.num_attention_heads
    if heads % mapping.tp:
        raise InputError(f"tp must divide the {heads} attention heads of {model.name!r}, got {mapping.tp}")
    return mapping


def kv_shards(model: "str | ModelConfig", tp: int) -> int:
    """Devices the KV cache of one sequence is split over under ``tp``-way TP.

    MHA/GQA split their K/V heads (a head is replicated once ``tp`` exceeds the K/V heads);
    MLA's latent is shared by all heads, so every TP rank holds all of it.
    """
    model = get_model(model)
    positive_int("tp", tp)
    if isinstance(model.attention, GQAAttention):
        return min(tp, model.attention.num_key_value_heads)
    return 1
