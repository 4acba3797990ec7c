"""psycopg's own timestamptz loader for connections set to UTC, in place of Django's; orjson
for the ``json`` values the project's own SQL builds.

Django registers a pure-Python subclass of psycopg's text loader, which parses the value and then
re-stamps its time zone with Django's (they agree: Django sets the connection's TimeZone to its
own). With psycopg[binary] installed psycopg's own loader is compiled: about 0.2 µs a value
instead of 2.5. A week's calendar page reads 600 timestamps; a booking about 15. On a connection
set to UTC psycopg's loader gives the same datetimes, ``tzinfo=datetime.timezone.utc`` included
(tests/clinic/test_db_backend.py holds them equal).

A ``json`` value (``json_agg`` and the like in the project's SQL: a booking's calendar context)
is parsed by psycopg with the standard library's ``json.loads``; orjson gives the same values in
a fraction of the time. (Django leaves ``jsonb`` columns as text for its fields to decode.)
orjson refuses integers beyond 64 bits, which no json value the project's SQL builds can hold
(its numbers are ids and counts).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import orjson
import psycopg
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format
from psycopg.types.json import JsonBinaryLoader, JsonLoader

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
_PSYCOPG_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)


class UtcTimestamptzLoader(Loader):
    # Django compares a connection's loader's timezone with its own for every new cursor, and
    # registers its own loader on the cursor when they differ.
    timezone = dt.UTC

    def __init__(self, oid: int, context=None) -> None:
        super().__init__(oid, context)
        self._load = _PSYCOPG_LOADER(oid, context).load

    def load(self, data):
        return self._load(data)


# psycopg's own hook for a subclass's parser (its set_json_loads makes such subclasses, but for
# jsonb too, which Django leaves as text).
class OrjsonLoader(JsonLoader):
    _loads = orjson.loads


class OrjsonBinaryLoader(JsonBinaryLoader):
    _loads = orjson.loads


@cache
def utc_context(template: AdaptersMap) -> AdaptersMap:
    """Django's adapters ``template`` with psycopg's own timestamptz loader, and orjson for json."""
    context = AdaptersMap(template)
    context.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)
    context.register_loader("json", OrjsonLoader)
    context.register_loader("json", OrjsonBinaryLoader)
    return context
