"""Prosody analysis of one user utterance: features (openSMILE eGeMAPS + Praat), a quality
gate, and the confidence / stability / affability scores with their explanation.

``analyze`` is pure computation (no I/O); ``workers.prosody.service`` wires it to storage,
the database and the session's events. See ``docs/prosody.md``.
"""

from workers.prosody.analysis import ProsodyReport, analyze

__all__ = ["ProsodyReport", "analyze"]
