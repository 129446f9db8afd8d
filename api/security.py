"""Credentials, all stateless (nothing stored, nothing to look up), all HMAC-SHA256 under
the server's secret key, each bound to what it names by a prefix of its own:

- a **session token** (``session:<id>``) opens one session's Socket.IO room, never another's;
  only ``POST /api/v1/sessions`` hands it out, to the owner creating the session;
- an **owner token** (``<owner_id>.<mac of owner:<id>>``) is the browser's credential for
  REST: it names its owner, so every route knows whose sessions and voices it may show;
- the **operator token** (``AVATAR_OPERATOR_TOKEN``, no default) sees everything over REST.

There is no user system: an owner is whoever holds the token ``POST /api/v1/owners`` gave.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import uuid
from dataclasses import dataclass

from avatar.settings import GENERATED_SECRETS_FILE, LOOPBACK_HOSTS, MIN_SECRET_KEY_CHARS, Settings


class InsecureSecretKey(RuntimeError):
    """The API would face a network with a secret key anyone could know or guess."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: an owner, or the operator (``owner_id`` ``None``)."""

    owner_id: uuid.UUID | None

    @property
    def is_operator(self) -> bool:
        return self.owner_id is None

    def owns(self, owner_id: uuid.UUID | None) -> bool:
        """Rows without an owner (made by the operator or the CLI) are the operator's alone."""
        return self.is_operator or owner_id == self.owner_id


OPERATOR = Caller(owner_id=None)


def _mac(settings: Settings, message: str) -> str:
    digest = hmac.new(settings.require_secret_key().encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_session_token(settings: Settings, session_id: str) -> str:
    return _mac(settings, f"session:{session_id}")


def verify_session_token(settings: Settings, session_id: str, token: str) -> bool:
    return hmac.compare_digest(issue_session_token(settings, session_id), token)


def issue_owner_token(settings: Settings, owner_id: uuid.UUID) -> str:
    return f"{owner_id}.{_mac(settings, f'owner:{owner_id}')}"


def new_owner(settings: Settings) -> tuple[uuid.UUID, str]:
    owner_id = uuid.uuid4()
    return owner_id, issue_owner_token(settings, owner_id)


def caller_for_token(settings: Settings, token: str) -> Caller | None:
    """The owner an owner token names, the operator for the operator token, else ``None``."""
    operator = settings.operator_token
    if operator and hmac.compare_digest(token.encode(), operator.encode()):
        return OPERATOR
    owner, _, _ = token.partition(".")
    try:
        owner_id = uuid.UUID(owner)
    except ValueError:
        return None
    if not hmac.compare_digest(issue_owner_token(settings, owner_id).encode(), token.encode()):
        return None
    return Caller(owner_id=owner_id)


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_secrets_for_bind(settings: Settings, host: str) -> None:
    """Refuse to serve ``host`` without a secret key, or off loopback with a weak one (or a
    short operator token): tokens signed with a known key can be forged by anyone."""
    settings.require_secret_key()
    if is_loopback(host):
        return
    weakness = settings.secret_key_weakness()
    if weakness:
        raise InsecureSecretKey(
            f"refusing to serve {host} (not loopback) with this AVATAR_SECRET_KEY: {weakness}, so "
            "anyone could forge session and owner tokens. Let `make up` generate one (it keeps it in "
            f"{(settings.data_dir / GENERATED_SECRETS_FILE).as_posix()}) or set AVATAR_SECRET_KEY to a "
            f"random value of at least {MIN_SECRET_KEY_CHARS} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    if settings.operator_token and len(settings.operator_token) < MIN_SECRET_KEY_CHARS:
        raise InsecureSecretKey(
            f"refusing to serve {host} (not loopback) with an AVATAR_OPERATOR_TOKEN shorter than "
            f"{MIN_SECRET_KEY_CHARS} characters: it opens every owner's data. Use a random one, or "
            "leave it unset."
        )
