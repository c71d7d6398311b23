"""Typed catalog records: the frozen, checked form of the catalogs the engine computes with (GPUs, model
shapes, memory constants, price offers, sharding strategies, tool savings, method and alignment-stage
attributes). The loader checks each entry against its catalog's JSON Schema (schemas/records.schema.json)
and builds these once per rule base (engine/language/records.py); the estimators and the planner read them
instead of raw mappings. ``from_entry`` / ``from_entries`` build from a plain mapping (calibration scripts,
tests) and raise ValueError. Pure stdlib."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def _number(entry: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"gpu entry {entry.get('id')!r}: {key} must be a number, got {value!r}")
    return float(value)


def _flag(entry: Mapping[str, object], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"gpu entry {entry.get('id')!r}: {key} must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class Gpu:
    """One GPU type from gpus.yaml."""

    id: str
    name: str
    vram_gib: float  # usable by PyTorch
    bf16: bool
    fp8: bool
    tflops_bf16_dense: float  # 0.0 when the GPU has no bf16
    tflops_fp16_dense: float = 0.0  # only given for GPUs without bf16 (T4)
    memory_bandwidth_gbs: float = 0.0
    vendor: str = "nvidia"
    architecture: str = ""
    compute_capability: str | None = None
    consumer: bool = False

    @classmethod
    def from_entry(cls, entry: Mapping[str, object]) -> Gpu:
        """Build from a gpus.yaml entry."""
        bf16 = _flag(entry, "bf16")
        capability = entry.get("compute_capability")
        gpu = cls(
            id=str(entry.get("id")),
            name=str(entry.get("name")),
            vram_gib=_number(entry, "vram_gib"),
            bf16=bf16,
            fp8=_flag(entry, "fp8"),
            tflops_bf16_dense=_number(entry, "tflops_bf16_dense", 0.0),
            tflops_fp16_dense=_number(entry, "tflops_fp16_dense", 0.0),
            memory_bandwidth_gbs=_number(entry, "memory_bandwidth_gbs", 0.0),
            vendor=str(entry.get("vendor", "nvidia")),
            architecture=str(entry.get("architecture", "")),
            compute_capability=None if capability is None else str(capability),
            consumer=_flag(entry, "consumer"),
        )
        if gpu.vram_gib <= 0 or gpu.training_tflops <= 0:
            raise ValueError(
                f"gpu entry {gpu.id!r}: needs vram_gib > 0 and tflops_bf16_dense (or tflops_fp16_dense) > 0"
            )
        return gpu

    @property
    def training_tflops(self) -> float:
        """Dense 16-bit tensor TFLOPS used for training (bf16, or fp16 where bf16 is missing)."""
        return self.tflops_bf16_dense if self.bf16 else self.tflops_fp16_dense


def _as_int(entry: Mapping[str, object], key: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"model entry {entry.get('id')!r}: {key} must be an integer, got {value!r}")
    return int(value)


def _as_float(entry: Mapping[str, object], key: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"entry {entry.get('id')!r}: {key} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModelShape:
    """Transformer shape of a decoder-only model (a models.yaml entry, or generic_shape)."""

    id: str
    params_b: float
    hidden_size: int
    intermediate_size: int
    layers: int
    attention_heads: int
    kv_heads: int
    vocab_size: int
    tied_embeddings: bool
    generic: bool = False
    head_dim: int | None = None  # None: hidden_size // attention_heads (Gemma and Qwen3 differ)
    experts: int = 1  # MoE: experts per layer (each has gate/up/down of intermediate_size)
    active_experts: int = 1  # MoE: experts each token passes through

    def __post_init__(self) -> None:
        ints = {
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "layers": self.layers,
            "attention_heads": self.attention_heads,
            "kv_heads": self.kv_heads,
            "vocab_size": self.vocab_size,
            "experts": self.experts,
            "active_experts": self.active_experts,
        }
        for name, value in ints.items():
            if value < 1:
                raise ValueError(f"model {self.id!r}: {name} must be >= 1, got {value}")
        if not self.params_b > 0:
            raise ValueError(f"model {self.id!r}: params_b must be > 0, got {self.params_b}")
        if self.active_experts > self.experts:
            raise ValueError(
                f"model {self.id!r}: active_experts {self.active_experts} > experts {self.experts}"
            )
        if self.head_dim is not None and self.head_dim < 1:
            raise ValueError(f"model {self.id!r}: head_dim must be >= 1, got {self.head_dim}")

    @classmethod
    def from_entry(cls, entry: Mapping[str, object]) -> ModelShape:
        """Build from a models.yaml entry (optional keys: head_dim, experts, active_experts)."""
        tied = entry.get("tied_embeddings")
        if not isinstance(tied, bool):
            raise ValueError(f"model entry {entry.get('id')!r}: tied_embeddings must be true or false")
        return cls(
            id=str(entry.get("id")),
            params_b=_as_float(entry, "params_b"),
            hidden_size=_as_int(entry, "hidden_size"),
            intermediate_size=_as_int(entry, "intermediate_size"),
            layers=_as_int(entry, "layers"),
            attention_heads=_as_int(entry, "attention_heads"),
            kv_heads=_as_int(entry, "kv_heads"),
            vocab_size=_as_int(entry, "vocab_size"),
            tied_embeddings=tied,
            head_dim=_as_int(entry, "head_dim") if "head_dim" in entry else None,
            experts=_as_int(entry, "experts") if "experts" in entry else 1,
            active_experts=_as_int(entry, "active_experts") if "active_experts" in entry else 1,
        )

    @property
    def params(self) -> float:
        """Total parameter count (published figure)."""
        return self.params_b * 1e9

    @property
    def active_params(self) -> float:
        """Parameters a token passes through: all but the experts it is not routed to (= params when dense)."""
        idle = self.layers * 3 * self.hidden_size * self.intermediate_size * (self.experts - self.active_experts)
        return max(self.params - idle, self.params / self.experts)

    @property
    def embedding_params(self) -> float:
        """Input embedding plus lm_head parameters (counted once when tied)."""
        return float(self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2))

    @property
    def attention_dim(self) -> int:
        """Width of the query projection output (heads x head_dim)."""
        head_dim = self.head_dim if self.head_dim is not None else self.hidden_size // self.attention_heads
        return self.attention_heads * head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (and value) projection output."""
        return self.kv_heads * (self.attention_dim // self.attention_heads)

    def structural_params(self) -> float:
        """Parameter count implied by the shape (no biases or norms); used to sanity-check params_b."""
        attention = self.hidden_size * (2 * self.attention_dim + 2 * self.kv_dim)
        mlp = 3 * self.hidden_size * self.intermediate_size * self.experts
        return float(self.layers * (attention + mlp)) + self.embedding_params

    def lora_params(self, rank: int, targets: Iterable[str]) -> float:
        """Trainable LoRA parameters: rank x (in + out) per targeted matrix, every layer (and expert)."""
        h, i = self.hidden_size, self.intermediate_size
        dims = {
            "q": (h, self.attention_dim),
            "k": (h, self.kv_dim),
            "v": (h, self.kv_dim),
            "o": (self.attention_dim, h),
            "gate": (h, i),
            "up": (h, i),
            "down": (i, h),
        }
        per_layer = 0
        for target in targets:
            d_in, d_out = dims[target]
            copies = self.experts if target in ("gate", "up", "down") else 1
            per_layer += rank * (d_in + d_out) * copies
        return float(per_layer * self.layers)


@dataclass(frozen=True, eq=False)  # hashed by identity: one object per loaded rule base
class MemoryConstants:
    """Constants of the memory and time model: memory.yaml id -> value."""

    values: Mapping[str, float]

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, object]]) -> MemoryConstants:
        """Build from memory.yaml entries (each needs an id and a numeric value)."""
        values: dict[str, float] = {}
        for entry in entries:
            key = entry.get("id")
            if not isinstance(key, str) or not key:
                raise ValueError(f"memory constant without an id: {dict(entry)!r}")
            if key in values:
                raise ValueError(f"duplicate memory constant id {key!r}")
            values[key] = _as_float(entry, "value")
        return cls(values=values)

    def get(self, key: str) -> float:
        """Value of one constant; ValueError naming the id when it is missing."""
        try:
            return self.values[key]
        except KeyError:
            raise ValueError(f"memory constant {key!r} missing from rules/catalog/memory.yaml") from None


@dataclass(frozen=True)
class Price:
    """One dated price record of a platform (platforms.yaml ``prices:``)."""

    platform: str
    gpu: str
    tier: str
    usd_per_gpu_hour: float
    instance_gpus: int = 1
    max_hours: float | None = None
    as_of: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Platform:
    """A platform's GPUs per node and its price records, in file order."""

    id: str
    billing: str
    max_gpus_per_node: int
    prices: tuple[Price, ...]


@dataclass(frozen=True)
class Strategy:
    """A sharding strategy (sharding.yaml): the memory model it uses and the GPU counts it suits."""

    id: str
    memory: str
    min_gpus: int
    max_gpus: int | None
    scaling_efficiency: float

    def suits(self, count: int) -> bool:
        """Whether a run on ``count`` GPUs can use the strategy."""
        return self.min_gpus <= count <= (self.max_gpus or count)


@dataclass(frozen=True)
class Stage:
    """What the estimators count for an alignment stage (alignment.yaml; absent attributes read as SFT)."""

    id: str
    sequences_per_example: int = 1
    reference_model: bool = False
    reward_models: int = 0
    generation_memory_fraction: float = 0.0


@dataclass(frozen=True, eq=False)  # identity: one object per loaded rule base
class CatalogRecords:
    """The typed records of one rule base, by catalog; ``tool_savings`` and ``default_precision`` give the
    memory-model savings of a tool and a method's precision for ``precision: auto`` (None/absent: none)."""

    gpus: tuple[Gpu, ...]
    models: Mapping[str, ModelShape]
    constants: MemoryConstants
    platforms: tuple[Platform, ...]
    strategies: Mapping[str, Strategy]
    tool_savings: Mapping[str, str | None]
    default_precision: Mapping[str, str]
    stages: Mapping[str, Stage]

    @classmethod
    def empty(cls) -> CatalogRecords:
        """The records of a rule base without any of these catalogs."""
        return cls((), {}, MemoryConstants(values={}), (), {}, {}, {}, {})

    def gpu(self, gpu_id: str) -> Gpu | None:
        """The GPU with this id, if any."""
        return next((g for g in self.gpus if g.id == gpu_id), None)
