"""Celery configuration for workers and Flower (``celery -A tasks.celery_app``), built from
``avatar.settings`` by :func:`avatar.queue.celery_config`: queues and routes come from the
job contracts in ``avatar/jobs.py``.

Lanes are separate queues, each served by dedicated workers (``avatar worker --lane NAME``):
priorities only order messages *within* a queue, so lanes are never mixed on one worker.
Celery reads this module when the app is configured (a worker's or Flower's start), not at
import of any task module.
"""

from avatar.queue import celery_config
from avatar.settings import get_settings

globals().update(celery_config(get_settings()))
