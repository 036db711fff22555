"""Transformer model configurations as data, each with the config file it was copied from.

Only the shapes that set FLOP and byte counts are kept: widths, head counts, the MLA
low-rank dimensions and the MoE expert counts. Field names follow the Hugging Face
``config.json`` keys so that a value can be checked against its source at a glance.
"""

from dataclasses import dataclass, replace

from ..hdl.errors import lookup, name_registry, positive_int

__all__ = [
    "GQAAttention",
    "MLAAttention",
    "MoEConfig",
    "ModelConfig",
    "MODELS",
    "get_model",
]


def _check_positive_fields(obj: object, *fields: str) -> None:
    for field in fields:
        positive_int(field, getattr(obj, field))


@dataclass(frozen=True)
class GQAAttention:
    """Grouped-query attention; multi-head attention when ``num_key_value_heads == num_attention_heads``.

    Members
    -------
    num_attention_heads : int
        Query heads.
    num_key_value_heads : int
        Key/value heads; each serves ``num_attention_heads // num_key_value_heads`` query heads.
    head_dim : int
        Width of one head (key, query and value alike).
    """

    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int

    def __post_init__(self):
        _check_positive_fields(self, "num_attention_heads", "num_key_value_heads", "head_dim")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )

    @property
    def kind(self) -> str:
        """``"mha"`` when every query head has its own K/V head, else ``"gqa"``."""
        return "mha" if self.num_key_value_heads == self.num_attention_heads else "gqa"

    @property
    def group_size(self) -> int:
        """Query heads that share one K/V head, which sets decode attention intensity."""
        return self.num_attention_heads // self.num_key_value_heads


@dataclass(frozen=True)
class MLAAttention:
    """Multi-head latent attention (DeepSeek-V2 paper, arXiv 2405.04434, section 2.1).

    The KV cache holds, per token, one latent of ``kv_lora_rank`` elements shared by all
    heads plus one decoupled RoPE key of ``qk_rope_head_dim`` elements.

    Members
    -------
    num_attention_heads : int
    q_lora_rank : int or None
        Rank of the query down-projection; None when queries are projected directly
        (DeepSeek-V2-Lite).
    kv_lora_rank : int
        Width of the cached latent ``c_KV``.
    qk_nope_head_dim, qk_rope_head_dim : int
        Per-head query/key widths without and with rotary embedding.
    v_head_dim : int
        Per-head value width.
    """

    num_attention_heads: int
    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int

    kind = "mla"

    def __post_init__(self):
        _check_positive_fields(
            self, "num_attention_heads", "kv_lora_rank", "qk_nope_head_dim",
            "qk_rope_head_dim", "v_head_dim",
        )
        if self.q_lora_rank is not None:
            positive_int("q_lora_rank", self.q_lora_rank)


@dataclass(frozen=True)
class MoEConfig:
    """Mixture-of-experts FFN.

    Members
    -------
    n_routed_experts : int
    num_experts_per_tok : int
        Routed experts each token is sent to (top-k).
    moe_intermediate_size : int
        Intermediate width of one routed expert (and of one shared expert).
    n_shared_experts : int
        Experts every token passes through; they run as one FFN of width
        ``n_shared_experts * moe_intermediate_size``, as in DeepSeek's ``DeepseekV3MoE``.
    first_k_dense_replace : int
        The first this many layers use a dense FFN instead of the MoE.
    interleave_moe_layer_step : int
        Of the layers after the first-k dense ones, every this-many-th is MoE and the others
        are dense (Llama 4's ``interleave_moe_layer_step``; 1: every layer is MoE).
    """

    n_routed_experts: int
    num_experts_per_tok: int
    moe_intermediate_size: int
    n_shared_experts: int = 0
    first_k_dense_replace: int = 0
    interleave_moe_layer_step: int = 1

    def __post_init__(self):
        _check_positive_fields(self, "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size",
                               "interleave_moe_layer_step")
        if self.num_experts_per_tok > self.n_routed_experts:
            raise ValueError(
                f"num_experts_per_tok ({self.num_experts_per_tok}) must be <= "
                f"n_routed_experts ({self.n_routed_experts})"
            )
        for field in ("n_shared_experts", "first_k_dense_replace"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(self, field)!r}")

    @property
    def balanced_ep_devices(self) -> int:
        """Expert-parallel width ``n_routed_experts // num_experts_per_tok``: the number of
        devices at which each expert expects as many tokens as one device's batch."""
        return self.n_routed_experts // self.num_experts_per_tok


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer, described by the shapes of one layer of each kind.

    Members
    -------
    name : str
        Registry key, lower case (``"deepseek-v3"``).
    source : str
        The config file the numbers were copied from.
    hidden_size, num_hidden_layers, vocab_size : int
    attention : GQAAttention or MLAAttention
    intermediate_size : int or None
        Width of the dense FFN of dense layers; None when every layer is MoE.
    moe : MoEConfig or None
        None for a dense model.
    gated_ffn : bool
        True for a SwiGLU FFN (gate, up and down matrices); False for a two-matrix FFN
        (GPT-3's GELU MLP: up and down).
    tie_word_embeddings : bool
        True when the LM head reuses the input embedding matrix (stored once).
    """

    name: str
    source: str
    hidden_size: int
    num_hidden_layers: int
    vocab_size: int
    attention: GQAAttention | MLAAttention
    intermediate_size: int | None = None
    moe: MoEConfig | None = None
    gated_ffn: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self):
        _check_positive_fields(self, "hidden_size", "num_hidden_layers", "vocab_size")
        if self.intermediate_size is not None:
            positive_int("intermediate_size", self.intermediate_size)
        counts = self.layer_counts
        if "dense" in counts and self.intermediate_size is None:
            raise ValueError(f"model {self.name!r} has dense layers but no intermediate_size")
        if self.moe is not None and self.moe.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(
                f"first_k_dense_replace ({self.moe.first_k_dense_replace}) exceeds "
                f"num_hidden_layers ({self.num_hidden_layers})"
            )

    @property
    def default_layer(self) -> str:
        """The layer kind analysed when none is named: the MoE layer if there is one."""
        return "moe" if "moe" in self.layer_counts else "dense"

    @property
    def layer_counts(self) -> dict[str, int]:
        """Number of layers of each kind (``"dense"``, ``"moe"``), omitting absent kinds.

        After the first ``first_k_dense_replace`` dense layers, one layer in every
        ``interleave_moe_layer_step`` is MoE (Llama 4 Maverick: layers 1, 3, ..., 47).
        """
        if self.moe is None:
            return {"dense": self.num_hidden_layers}
        after_dense = self.num_hidden_layers - self.moe.first_k_dense_replace
        moe = max(after_dense, 0) // self.moe.interleave_moe_layer_step
        counts = {"dense": self.num_hidden_layers - moe, "moe": moe}
        return {kind: n for kind, n in counts.items() if n > 0}


MODELS = name_registry(
    (
        ModelConfig(
            name="llama-2-7b",
            source="https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
            hidden_size=4096, num_hidden_layers=32, vocab_size=32000,
            attention=GQAAttention(num_attention_heads=32, num_key_value_heads=32, head_dim=128),
            intermediate_size=11008,
        ),
        ModelConfig(
            name="llama-3-8b",
            source="https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json",
            hidden_size=4096, num_hidden_layers=32, vocab_size=128256,
            attention=GQAAttention(num_attention_heads=32, num_key_value_heads=8, head_dim=128),
            intermediate_size=14336,
        ),
        ModelConfig(
            name="llama-3-70b",
            source="https://huggingface.co/meta-llama/Meta-Llama-3-70B/blob/main/config.json",
            hidden_size=8192, num_hidden_layers=80, vocab_size=128256,
            attention=GQAAttention(num_attention_heads=64, num_key_value_heads=8, head_dim=128),
            intermediate_size=28672,
        ),
        # (num_local_experts=8, num_experts_per_tok=2; its intermediate_size=14336 is the
        # width of each expert, and no layer is dense.)
        ModelConfig(
            name="mixtral-8x7b",
            source="https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json",
            hidden_size=4096, num_hidden_layers=32, vocab_size=32000,
            attention=GQAAttention(num_attention_heads=32, num_key_value_heads=8, head_dim=128),
            moe=MoEConfig(n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=14336),
        ),
        # (num_experts=128; head_dim=128 although hidden_size/heads = 64. Its intermediate_size
        # of 12288 is unused: decoder_sparse_step=1 and mlp_only_layers=[] make every layer MoE.)
        ModelConfig(
            name="qwen3-235b-a22b",
            source="https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json",
            hidden_size=4096, num_hidden_layers=94, vocab_size=151936,
            attention=GQAAttention(num_attention_heads=64, num_key_value_heads=4, head_dim=128),
            moe=MoEConfig(n_routed_experts=128, num_experts_per_tok=8, moe_intermediate_size=1536),
        ),
        ModelConfig(
            name="deepseek-v3",
            source="https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json",
            hidden_size=7168, num_hidden_layers=61, vocab_size=129280,
            attention=MLAAttention(
                num_attention_heads=128, q_lora_rank=1536, kv_lora_rank=512,
                qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
            ),
            intermediate_size=18432,
            moe=MoEConfig(
                n_routed_experts=256, num_experts_per_tok=8, moe_intermediate_size=2048,
                n_shared_experts=1, first_k_dense_replace=3,
            ),
        ),
        # (q_lora_rank is null: queries are projected straight from the hidden state.)
        ModelConfig(
            name="deepseek-v2-lite",
            source="https://huggingface.co/deepseek-ai/DeepSeek-V2-Lite/blob/main/config.json",
            hidden_size=2048, num_hidden_layers=27, vocab_size=102400,
            attention=MLAAttention(
                num_attention_heads=16, q_lora_rank=None, kv_lora_rank=512,
                qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
            ),
            intermediate_size=10944,
            moe=MoEConfig(
                n_routed_experts=64, num_experts_per_tok=6, moe_intermediate_size=1408,
                n_shared_experts=2, first_k_dense_replace=1,
            ),
        ),
        # (DeepSeek-V3 architecture with 64 heads, 384 routed experts, one dense layer.)
        ModelConfig(
            name="kimi-k2",
            source="https://huggingface.co/moonshotai/Kimi-K2-Instruct/blob/main/config.json",
            hidden_size=7168, num_hidden_layers=61, vocab_size=163840,
            attention=MLAAttention(
                num_attention_heads=64, q_lora_rank=1536, kv_lora_rank=512,
                qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
            ),
            intermediate_size=18432,
            moe=MoEConfig(
                n_routed_experts=384, num_experts_per_tok=8, moe_intermediate_size=2048,
                n_shared_experts=1, first_k_dense_replace=1,
            ),
        ),
        # The paper's three evaluation models (arXiv 2507.15465 v3, section on the evaluation
        # setup): GPT-3 175B (MHA), Llama 4 Maverick (GQA + MoE), DeepSeek-R1 (MLA + MoE).
        # GPT-3 has no config.json: Brown et al., Table 2.1 (96 layers, d_model 12288, 96 heads
        # of 128); the FFN is 4 x d_model wide with GELU (two matrices, section 2.1 follows
        # GPT-2); the 50257-token GPT-2 BPE vocabulary; input and output embeddings tied.
        ModelConfig(
            name="gpt-3-175b",
            source="https://arxiv.org/abs/2005.14165 (Table 2.1, GPT-3 175B)",
            hidden_size=12288, num_hidden_layers=96, vocab_size=50257,
            attention=GQAAttention(num_attention_heads=96, num_key_value_heads=96, head_dim=128),
            intermediate_size=4 * 12288, gated_ffn=False, tie_word_embeddings=True,
        ),
        # (text_config: num_local_experts=128, num_experts_per_tok=1, interleave_moe_layer_step=2
        # so layers 1, 3, ..., 47 are MoE; each MoE layer adds one shared expert of the routed
        # expert's width (Llama4TextMoe.shared_expert, intermediate_size=8192); the dense layers
        # use intermediate_size_mlp=16384.)
        ModelConfig(
            name="llama-4-maverick",
            source="https://huggingface.co/meta-llama/Llama-4-Maverick-17B-128E-Instruct/blob/main/config.json",
            hidden_size=5120, num_hidden_layers=48, vocab_size=202048,
            attention=GQAAttention(num_attention_heads=40, num_key_value_heads=8, head_dim=128),
            intermediate_size=16384,
            moe=MoEConfig(
                n_routed_experts=128, num_experts_per_tok=1, moe_intermediate_size=8192,
                n_shared_experts=1, interleave_moe_layer_step=2,
            ),
        ),
    ),
    "model",
)

# DeepSeek-R1 is DeepSeek-V3's architecture (its config.json has the same shapes; the
# multi-token-prediction module is not counted, as it is not used in plain decode).
MODELS["deepseek-r1"] = replace(
    MODELS["deepseek-v3"], name="deepseek-r1",
    source="https://huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/config.json",
)


def get_model(model: "str | ModelConfig") -> ModelConfig:
    """Return the registered model called ``model``; a ModelConfig passes through unchanged.

    Raises
    ------
    ValueError
        If no model has that name; the message lists the known names.
    """
    if isinstance(model, ModelConfig):
        return model
    return lookup(MODELS, model, "model")
