"""``Idempotency-Key`` for POST endpoints that create things (bookings, series).

The key is claimed inside the same transaction as the work it guards (brandur's "map the
request to one transaction"): a retry after success finds the claim and gets the first result
back; a concurrent duplicate waits on the unique index until the first commits, then replays;
if the first failed, nothing was stored and the retry simply runs again. Reusing a key with a
different body is refused (422), as Stripe and the IETF draft do.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from rest_framework.request import Request

from .errors import InvalidInput, RuleViolation
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Claim:
    key: str | None
    row: IdempotencyKey | None = None  # our own claim, to be completed with the result
    replay: IdempotencyKey | None = None  # an earlier request's committed result


def request_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_RE.match(key):
        raise InvalidInput(errors={HEADER: ["Use 1 to 255 printable ASCII characters, e.g. a UUID."]})
    return key


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def begin(request: Request) -> Claim:
    """Claim the request's key first thing inside the transaction that does the work.

    The INSERT makes a concurrent duplicate wait on the unique index until this transaction
    ends; then it either finds our committed result (replay) or, if we rolled back, claims the
    key itself and does the work.
    """
    key = request_key(request)
    if key is None:
        return Claim(key=None)
    digest = _fingerprint(request)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(
                user=request.user,
                key=key,
                method=request.method,
                path=request.path[:300],
                request_hash=digest,
                status_code=0,  # filled in by finish(); never visible before commit
                resource_type="",
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.get(user=request.user, key=key)
        if existing.request_hash != digest:
            raise RuleViolation(
                "This Idempotency-Key was already used with a different request.", code="idempotency_key_reused"
            ) from None
        return Claim(key=key, replay=existing)
    return Claim(key=key, row=row)


def finish(claimed: Claim, *, status_code: int, resource_type: str, resource_ids: list[int]) -> None:
    if claimed.row is None:
        return
    claimed.row.status_code = status_code
    claimed.row.resource_type = resource_type
    claimed.row.resource_ids = resource_ids
    claimed.row.save(update_fields=["status_code", "resource_type", "resource_ids"])


def purge_older_than(cutoff) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
