"""Credentials (api/security.py): owner tokens name their owner and nothing else, the
operator token exists only when configured, and a weak secret never faces a network."""

from __future__ import annotations

import uuid

import pytest

from api.security import (
    OPERATOR,
    Caller,
    InsecureSecretKey,
    caller_for_token,
    check_secrets_for_bind,
    is_loopback,
    issue_owner_token,
    issue_session_token,
    new_owner,
    verify_session_token,
)
from avatar.settings import MissingSecretKey, Settings

STRONG = "k" * 16 + "3f9a0c2e7b5d4a1f"  # 32 characters, not a published default


def _settings(**values: str) -> Settings:
    return Settings(**{"secret_key": STRONG, **values})


def test_an_owner_token_names_its_owner_and_survives_nothing_else() -> None:
    settings = _settings()
    owner_id, token = new_owner(settings)
    assert caller_for_token(settings, token) == Caller(owner_id=owner_id)
    assert token.startswith(f"{owner_id}.")

    other = uuid.uuid4()
    forged = f"{other}.{token.partition('.')[2]}"  # someone else's id with this owner's mac
    assert caller_for_token(settings, forged) is None
    assert caller_for_token(settings, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert caller_for_token(settings, "not-a-token") is None
    assert caller_for_token(settings, "") is None
    # Under another secret key the same owner's token is another string.
    assert caller_for_token(_settings(secret_key="x" * 40), token) is None


def test_a_session_token_is_never_an_owner_token() -> None:
    settings = _settings()
    session_id = uuid.uuid4()
    session_token = issue_session_token(settings, str(session_id))
    assert caller_for_token(settings, f"{session_id}.{session_token}") is None
    owner_token = issue_owner_token(settings, session_id)
    assert not verify_session_token(settings, str(session_id), owner_token.partition(".")[2])
    assert verify_session_token(settings, str(session_id), session_token)


def test_the_operator_token_works_only_when_configured() -> None:
    token = "o" * 40
    assert caller_for_token(_settings(operator_token=token), token) is OPERATOR
    assert caller_for_token(_settings(), token) is None
    assert caller_for_token(_settings(), "") is None  # no operator: an empty bearer is nobody
    assert OPERATOR.is_operator and OPERATOR.owns(None) and OPERATOR.owns(uuid.uuid4())


def test_an_owner_owns_only_their_rows() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    caller = Caller(owner_id=me)
    assert caller.owns(me) and not caller.owns(other)
    assert not caller.owns(None), "rows without an owner are the operator's"


def test_nothing_signs_without_a_secret_key() -> None:
    with pytest.raises(MissingSecretKey, match="AVATAR_SECRET_KEY.*make up"):
        issue_session_token(_settings(secret_key=""), str(uuid.uuid4()))
    with pytest.raises(MissingSecretKey):
        new_owner(_settings(secret_key=""))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "avatar.example"])
def test_hosts_that_face_a_network(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("secret, reason", [
    ("short-secret", "shorter than 32"),
    ("dev-secret-change-me", "published default"),
    ("change-me-in-docker-env", "published default"),
])
def test_a_weak_secret_is_refused_off_loopback(secret: str, reason: str) -> None:
    settings = _settings(secret_key=secret)
    check_secrets_for_bind(settings, "127.0.0.1")  # a local demo may use anything non-empty
    with pytest.raises(InsecureSecretKey, match=f"0.0.0.0.*AVATAR_SECRET_KEY.*{reason}"):
        check_secrets_for_bind(settings, "0.0.0.0")


def test_a_strong_secret_may_face_a_network_but_not_a_short_operator_token() -> None:
    check_secrets_for_bind(_settings(), "0.0.0.0")
    check_secrets_for_bind(_settings(operator_token="p" * 32), "0.0.0.0")
    with pytest.raises(InsecureSecretKey, match="AVATAR_OPERATOR_TOKEN"):
        check_secrets_for_bind(_settings(operator_token="admin"), "0.0.0.0")
    with pytest.raises(MissingSecretKey):
        check_secrets_for_bind(_settings(secret_key=""), "127.0.0.1")
