"""The embedded mode's Celery broker: kombu's filesystem transport, with atomic message files.

kombu writes a message by creating its file and then writing into it. A worker listing the folder
in between takes the still-empty file, fails to decode it and stops ("Unrecoverable error:
JSONDecodeError", celery/kombu#1551); the first-run test saw it about once in ten runs. Here a
message is written under a name the worker ignores and then renamed to its real name, which is
atomic on one filesystem: a worker sees a whole message or none. Only ``make demo`` without
``REDIS_URL`` uses this (``config.settings.base``); production uses Redis.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue`` (kombu's name for the file, written whole)."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: kombu takes only files named "<stamp>_<uuid>.<queue>.msg".
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
                os.fsync(f.fileno())  # whole on disk before it has its real name, even after a crash
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
