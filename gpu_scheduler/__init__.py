"""Owns device memory and locks, per GPU, shared by every session and worker process:

- ``budget``: the VRAM budget in Redis (footprints, LRU eviction of idle on-demand models,
  idle unload, never a model in use); ``model_host``: the models one process holds, kept in
  step with it; ``registry`` / ``presets``: each model's footprint and residency, and the
  placement plans (one RTX 4090; two boxes).
- ``lock``: the HQ lane's fenced single slot; ``breaker``: the circuit breaker every HQ
  worker sees; ``admission``: sessions per box.

Workers are pinned to a GPU by ``avatar worker --lane NAME --gpu N`` (``CUDA_VISIBLE_DEVICES``
is set before anything can initialise CUDA).
"""
