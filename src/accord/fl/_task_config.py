"""The typed settings every task of a plan carries, shared by the hub and the sites.

The hub writes a :class:`TaskConfig` into each task (:meth:`TaskConfig.to_wire`, flat keys
beside the handler's own settings such as ``lr`` or ``cutoff``); a site reads it back with
:meth:`TaskConfig.of`, which validates every key it knows and names the bad one. Neither
side decodes these keys by hand.

Wire keys::

    function, rounds, n_sites, model                 the plan's function hash and shape
    dp.dp, dp.epsilon, dp.delta, dp.max_grad_norm,   the plan's differential privacy
    dp.noise_multiplier, dp.clip_norm
    secagg, secagg_sites, secagg_threshold,          one round of secure aggregation
    secagg_k, secagg_clip, secagg_fraction_bits,
    secagg_seed
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import PrivacySpec, TransportError
from accord.crypto.secagg import Quantizer, SecAggConfig
from accord.net import ConfigValue, Task

__all__ = ["DP_FIELDS", "DPSettings", "SecAggRound", "TaskConfig"]

DP_FIELDS = ("dp", "epsilon", "delta", "max_grad_norm", "noise_multiplier", "clip_norm")
_DP_PREFIX = "dp."
_SECAGG_KEYS = {"neighbours": "k", "graph_seed": "seed"}  # field -> wire key suffix


@contextlib.contextmanager
def _naming(prefix: str) -> Iterator[None]:
    """Turn a validation error into a TransportError naming the wire key, not the value."""
    try:
        yield
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        name = str(loc[0]) if loc else ""
        if prefix == "secagg_":
            name = _SECAGG_KEYS.get(name, name)
        raise TransportError(f"malformed task config: key '{prefix}{name}'") from None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DPSettings(_Frozen):
    """The plan's differential-privacy settings (the ``[privacy]`` keys that are set)."""

    dp: Literal["none", "dpsgd", "dpfedavg"] | None = None
    epsilon: float | None = None
    delta: float | None = None
    max_grad_norm: float | None = None
    noise_multiplier: float | None = None
    clip_norm: float | None = None

    @classmethod
    def of(cls, privacy: PrivacySpec) -> DPSettings:
        values = privacy.model_dump()
        return cls(**{k: values[k] for k in DP_FIELDS if values[k] is not None})

    def given(self) -> dict[str, ConfigValue]:
        """The settings that are set, by field name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SecAggRound(_Frozen):
    """One round of secure aggregation as the hub announced it to the round's sites.

    ``sites`` in the order that gives each its Shamir holder index; ``threshold`` t;
    ``neighbours`` k of SecAgg+ (None: complete graph); ``clip`` the fixed-point range and
    ``fraction_bits`` its precision (see :class:`~accord.crypto.secagg.Quantizer`);
    ``graph_seed`` (hex) orders the SecAgg+ ring. A site checks all but the seed against
    the signed plan before it takes part.
    """

    sites: tuple[str, ...] = Field(min_length=1)
    threshold: int = Field(ge=1)
    neighbours: int | None = Field(default=None, ge=1)
    clip: float = Field(gt=0.0)
    fraction_bits: int = Field(ge=0, le=64)
    graph_seed: str = Field(pattern=r"^([0-9a-f]{2})*$")

    def secagg_config(self, plan: str, rnd: int, length: int) -> SecAggConfig:
        """The round's protocol parameters, rebuilt identically by the hub and every site."""
        return SecAggConfig(
            plan=plan,
            round=rnd,
            sites=self.sites,
            threshold=self.threshold,
            vector_length=length,
            quantizer=Quantizer(self.clip, len(self.sites), self.fraction_bits),
            k=self.neighbours,
            graph_seed=bytes.fromhex(self.graph_seed),
        )

    def to_wire(self) -> dict[str, ConfigValue]:
        return {
            "secagg": True,
            "secagg_sites": ",".join(self.sites),
            "secagg_threshold": self.threshold,
            "secagg_k": self.neighbours or 0,
            "secagg_clip": self.clip,
            "secagg_fraction_bits": self.fraction_bits,
            "secagg_seed": self.graph_seed,
        }

    @classmethod
    def from_wire(cls, config: Mapping[str, ConfigValue]) -> SecAggRound:
        return cls.model_validate(
            {
                "sites": tuple(str(config.get("secagg_sites", "")).split(",")),
                "threshold": config.get("secagg_threshold"),
                "neighbours": config.get("secagg_k") or None,
                "clip": config.get("secagg_clip"),
                "fraction_bits": config.get("secagg_fraction_bits"),
                "graph_seed": config.get("secagg_seed"),
            }
        )


class TaskConfig(_Frozen):
    """What every task of a plan carries besides the handler's own settings."""

    function: str = ""
    rounds: int | None = Field(default=None, ge=1)
    n_sites: int | None = Field(default=None, ge=1)
    model: str | None = None
    dp: DPSettings = DPSettings()
    secagg: SecAggRound | None = None

    def to_wire(self) -> dict[str, ConfigValue]:
        """The flat keys of a task's ``config`` (only those that are set)."""
        shape = {"rounds": self.rounds, "n_sites": self.n_sites, "model": self.model}
        out: dict[str, ConfigValue] = {k: v for k, v in shape.items() if v is not None}
        out |= {f"{_DP_PREFIX}{k}": v for k, v in self.dp.given().items()}
        if self.function:
            out["function"] = self.function
        if self.secagg is not None:
            out |= self.secagg.to_wire()
        return out

    @classmethod
    def from_wire(cls, config: Mapping[str, ConfigValue]) -> Self:
        """The plan's keys of a task's config; raises :class:`TransportError` naming the
        first bad key (never its value). Keys of the handler's own are left alone."""
        given = {k[len(_DP_PREFIX) :]: v for k, v in config.items() if k.startswith(_DP_PREFIX)}
        with _naming(_DP_PREFIX):
            dp = DPSettings.model_validate(given)
        with _naming("secagg_"):
            secagg = SecAggRound.from_wire(config) if config.get("secagg") else None
        with _naming(""):
            return cls.model_validate(
                {
                    "function": str(config.get("function", "")),
                    "rounds": config.get("rounds"),
                    "n_sites": config.get("n_sites"),
                    "model": config.get("model"),
                    "dp": dp,
                    "secagg": secagg,
                }
            )

    @classmethod
    def of(cls, task: Task) -> Self:
        """The typed plan settings of ``task``."""
        return cls.from_wire(task.config)

    def with_secagg(self, secagg: SecAggRound | None) -> TaskConfig:
        return self.model_copy(update={"secagg": secagg})
