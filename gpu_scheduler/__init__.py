"""Owns device memory and locks: the VRAM budget with on-demand loading, the HQ lane's
single-slot lock and the shared circuit breaker (the gpu_scheduler issue).

Today it holds only what the backbone needs: workers are pinned to a GPU by
``avatar worker --lane NAME --gpu N`` (``CUDA_VISIBLE_DEVICES`` is set before anything can
initialise CUDA).
"""
