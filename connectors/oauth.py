"""The token requests of every grant a connection can use (RFC 6749, RFC 7523).

Each function returns the form to post to the token endpoint; `connectors.http` sends it and reads
the answer, the same way for every provider.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180  # Salesforce accepts an assertion's exp at most 3 minutes ahead


@dataclass(frozen=True)
class Grant:
    """A token request: where to post it and the form."""

    token_url: str
    form: dict[str, str]


class BadKey(ValueError):
    """The stored private key cannot sign an assertion."""


def refresh_token(token_url: str, client_id: str, client_secret: str, refresh: str,
                  **extra: str) -> Grant:
    """The refresh-token grant, client credentials in the form (client_secret_post)."""
    return Grant(token_url, {"grant_type": "refresh_token", "refresh_token": refresh,
                             "client_id": client_id, "client_secret": client_secret, **extra})


def client_credentials(token_url: str, client_id: str, client_secret: str,
                       scope: str | None) -> Grant:
    form = {"grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret}
    return Grant(token_url, form | ({"scope": scope} if scope else {}))


def jwt_bearer(token_url: str, private_key_pem: str, client_id: str, username: str,
               audience: str) -> Grant:
    assertion = jwt_assertion(private_key_pem, client_id, username, audience)
    return Grant(token_url, {"grant_type": JWT_GRANT, "assertion": assertion})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(private_key_pem: str, client_id: str, username: str, audience: str) -> str:
    """An RS256 JWT as the JWT bearer flow wants it (iss, sub, aud, exp within 3 minutes)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise BadKey("the stored private key is not a PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise BadKey("the stored private key is not an RSA key")
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iss": client_id, "sub": username, "aud": audience,
              "exp": int(time.time()) + JWT_LIFETIME_S}
    signing_input = f"{header}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"
