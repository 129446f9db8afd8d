"""What a stage is handed: the process's :class:`avatar.services.Services` and its engines.

Built once per worker process (``tasks/context.py``), or by a test or benchmark that runs a
stage in its own process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avatar.services import Services
from avatar.settings import Settings
from workers.engines.registry import Engines


@dataclass
class StageContext:
    services: Services
    engines: Engines = field(init=False)

    def __post_init__(self) -> None:
        self.engines = Engines(self.services.settings)

    @property
    def settings(self) -> Settings:
        return self.services.settings
