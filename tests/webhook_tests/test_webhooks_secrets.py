"""Secrets: several at once, never shown, refused when empty."""

from __future__ import annotations

import pytest

from webhooks import Secrets


def test_repr_never_shows_secrets() -> None:
    """repr and str count the secrets and show none of them."""
    secrets = Secrets("hunter2", "correct-horse", basic_auth=[("hook", "pa55word")])
    for text in (repr(secrets), str(secrets), f"{secrets}", f"{secrets!r}"):
        assert "hunter2" not in text
        assert "correct-horse" not in text
        assert "pa55word" not in text
        assert "hook" not in text
    assert repr(secrets) == "Secrets(<2 secrets>, <1 basic-auth pair>)"


@pytest.mark.parametrize("bad", ["", "   ", b""])
def test_empty_secret_is_refused(bad: str | bytes) -> None:
    """An empty secret would let anyone sign: it is refused when configured."""
    with pytest.raises(ValueError, match="empty"):
        Secrets("fine", bad)


def test_empty_password_is_refused() -> None:
    """A basic-auth pair with an empty password is refused."""
    with pytest.raises(ValueError, match="empty password"):
        Secrets(basic_auth=[("hook", "")])


def test_user_name_with_colon_is_refused() -> None:
    """Basic auth cannot carry a user name containing ':'."""
    with pytest.raises(ValueError, match="':'"):
        Secrets(basic_auth=[("a:b", "pw")])


def test_secret_of_another_type_is_refused() -> None:
    """A secret that is neither str nor bytes is a TypeError."""
    with pytest.raises(TypeError):
        Secrets(42)  # type: ignore[arg-type]


def test_whsec_secrets_are_signing_keys_not_tokens() -> None:
    """whsec_ secrets become decoded signing keys; other secrets are plain tokens;
    every secret is an HMAC key."""
    secrets = Secrets("whsec_a2V5", "plain")
    assert secrets.signing_keys == (b"key",)
    assert secrets.tokens == (b"plain",)
    assert secrets.hmac_keys == (b"whsec_a2V5", b"plain")
