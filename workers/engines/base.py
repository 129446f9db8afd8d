"""What every engine shares: an availability report and the errors the tasks understand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Availability:
    """Whether an engine can run here; when not, why and the command that fixes it."""

    ok: bool
    reason: str = ""
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"available": self.ok, "reason": self.reason, "fix": self.fix}


class EngineUnavailable(RuntimeError):
    """The engine cannot run (no weights, missing binary, optional package not installed)."""

    def __init__(self, engine: str, reason: str, fix: str = "") -> None:
        super().__init__(f"{engine}: {reason}" + (f" (fix: {fix})" if fix else ""))
        self.engine = engine
        self.reason = reason
        self.fix = fix


class TransientEngineError(RuntimeError):
    """A failure worth retrying with backoff (server restarting, connection reset, timeout)."""


class VRAMExhausted(RuntimeError):
    """The GPU ran out of memory again after freeing what could be freed and retrying once.
    The HQ tier degrades the sentence to the fast tier; the fast tier speaks it with its CPU
    fallback engine, or, with none configured, reports ``VRAM_EXHAUSTED``."""
