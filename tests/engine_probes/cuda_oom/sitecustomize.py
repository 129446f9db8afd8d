"""Put on the PYTHONPATH of a worker by tests/workers/test_f5_turn.py. There is no GPU here,
so the allocator's failure is what this simulates: while the file ``AVATAR_TEST_OOM_FILE``
names holds a count above 0 (or ``always``), the next forward pass of F5-TTS's DiT, inside
F5's own ``infer``, raises torch's real ``torch.cuda.OutOfMemoryError``, and the count goes
down by one. Everything around it (the adapter, the VRAM budget, the speech service, the
worker) is the real code."""

from __future__ import annotations

import os
from pathlib import Path

_COUNT_FILE = os.environ.get("AVATAR_TEST_OOM_FILE")

if _COUNT_FILE:
    import torch

    def _out_of_memory_in_dit(module: torch.nn.Module, _args: object) -> None:
        if type(module).__name__ != "DiT":
            return
        path = Path(_COUNT_FILE)
        left = path.read_text().strip() if path.exists() else ""
        if left == "always" or (left.isdigit() and int(left) > 0):
            if left != "always":
                path.write_text(str(int(left) - 1))
            raise torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 64.00 MiB (simulated by the test: no GPU here)")

    torch.nn.modules.module.register_module_forward_pre_hook(_out_of_memory_in_dit)
