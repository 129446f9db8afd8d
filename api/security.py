"""Session tokens: an HMAC of the session id under the server's secret key.

Stateless (nothing to store or look up) and bound to one session: a token never opens
another session's room."""

from __future__ import annotations

import base64
import hashlib
import hmac

from avatar.settings import Settings


def issue_session_token(settings: Settings, session_id: str) -> str:
    digest = hmac.new(
        settings.secret_key.encode(), f"session:{session_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_session_token(settings: Settings, session_id: str, token: str) -> bool:
    return hmac.compare_digest(issue_session_token(settings, session_id), token)
