"""Plan checkpoints: a hub that is killed mid-plan resumes from its last completed round.

After every round the hub writes the strategy's global state (model and server-side
state, as safetensors) and the round number, atomically, under ``folder/<label>``; a
restarted hub reuses the plan (same plan id, no second submission on the ledger) and
carries on from there. Sites notice nothing but a pause: tasks of the interrupted round
expire and the round is sent again with new task ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from accord.core import ConfigError, decode_arrays, encode_arrays
from accord.fl.strategies import GlobalState
from accord.studies._jsonio import write_bytes_atomic, write_json_atomic

__all__ = ["Checkpoint", "PlanCheckpoints"]


@dataclass(frozen=True)
class Checkpoint:
    plan_id: str
    plan_seq: int | None
    rounds_done: int
    state: GlobalState
    participants: tuple[str, ...] = ()  # of the last completed round


class PlanCheckpoints:
    """Per-label (one per trained method) round checkpoints in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _stem(self, label: str) -> Path:
        return self.folder / re.sub(r"[^A-Za-z0-9_.-]", "_", label)

    def begin(self, label: str, plan_id: str, plan_seq: int | None) -> None:
        """Note that ``label`` trains under ``plan_id`` (before its first round)."""
        stem = self._stem(label)
        write_json_atomic(
            stem.with_suffix(".plan.json"), {"plan_id": plan_id, "plan_seq": plan_seq}
        )

    def plan(self, label: str) -> tuple[str, int | None] | None:
        """The plan a previous hub began for ``label``, if any."""
        path = self._stem(label).with_suffix(".plan.json")
        if not path.is_file():
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        return str(doc["plan_id"]), doc.get("plan_seq")

    def save(
        self, label: str, rounds_done: int, state: GlobalState, participants: list[str]
    ) -> None:
        stem = self._stem(label)
        arrays = {f"params.{k}": v for k, v in state.params.items()}
        arrays |= {f"extra.{k}": v for k, v in state.extra.items()}
        write_bytes_atomic(stem.with_suffix(".state.safetensors"), encode_arrays(arrays))
        meta = {
            "rounds_done": rounds_done,
            "converged": state.converged,
            "history": list(state.history),
            "participants": list(participants),
        }
        write_json_atomic(stem.with_suffix(".state.json"), meta)

    def load(self, label: str) -> Checkpoint | None:
        """The last completed round of ``label``'s plan, or None to start afresh."""
        plan = self.plan(label)
        stem = self._stem(label)
        meta_path, data_path = (
            stem.with_suffix(".state.json"),
            stem.with_suffix(".state.safetensors"),
        )
        if plan is None or not meta_path.is_file() or not data_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arrays = decode_arrays(data_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{stem}: unreadable plan checkpoint ({type(exc).__name__})"
            ) from None
        state = GlobalState(
            params={k[7:]: v for k, v in arrays.items() if k.startswith("params.")},
            extra={k[6:]: v for k, v in arrays.items() if k.startswith("extra.")},
            converged=bool(meta["converged"]),
            history=tuple(meta["history"]),
        )
        done = int(meta["rounds_done"])
        return Checkpoint(plan[0], plan[1], done, state, tuple(meta.get("participants", ())))
