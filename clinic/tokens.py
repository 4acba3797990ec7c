"""Single-purpose link tokens: random, shown once, stored only as a hash.

256 bits from ``secrets`` (ASVS 7.2.3 asks for at least 128). The database keeps the SHA-256,
so a leaked table gives no working links; a lookup hashes the presented token and compares
hashes by index. No HMAC key is needed because the token itself is high-entropy.
"""

import hashlib
import secrets

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and its hash: hand out the first, store the second."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)
