"""The API's JSON renderer: DRF's output, encoded by orjson.

A 4-week availability answer is ~240 kB of JSON and a calendar page ~110 kB; the standard
library's encoder was about a tenth of those requests' CPU, orjson a tenth of that. The bytes are
DRF's: compact separators, UTF-8 text unescaped, U+2028/U+2029 escaped, and every type orjson is
not told to keep native (datetimes, dates, times, decimals, lazy strings, ...) goes through DRF's own
encoder. Anything orjson refuses (an integer beyond 64 bits, a non-string key, nesting deeper than
254 levels) and any pretty-printed answer (``; indent=``, the browsable API) is rendered by DRF.
Floats differ in form, not value: orjson writes the shortest decimal form (``0.00001`` where DRF
writes ``1e-05``; a JSON parser reads the same number), and a non-finite float as ``null`` where
DRF refuses it (an error).
"""

from __future__ import annotations

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_default = JSONEncoder().default
_LINE_SEPARATORS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # U+2028, U+2029 in UTF-8


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None or not self.compact or self.ensure_ascii or not self.strict:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            ret = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATORS[0] in ret or _LINE_SEPARATORS[1] in ret:
            # A strict JavaScript subset, as DRF makes it.
            ret = ret.replace(_LINE_SEPARATORS[0], b"\\u2028").replace(_LINE_SEPARATORS[1], b"\\u2029")
        return ret
