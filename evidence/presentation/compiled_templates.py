"""Templates compiled once per process (a Jinja bytecode cache in memory). Every app this process makes (the
tests make hundreds; each gunicorn worker one) has its own Jinja environment, which compiled every template it
renders again, at about 10 ms each: kept here, a template is compiled once and loaded after that. Jinja keys each
entry by the template's name and checks it against its source's checksum, so an edited template is compiled again.
The environments of the product's apps are configured alike (same extensions, same autoescaping by name), which
is what sharing compiled code between them requires."""
from __future__ import annotations

import threading

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class ProcessBytecodeCache(BytecodeCache):
    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}
        self._lock = threading.Lock()  # a threaded server's requests may compile side by side

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)  # refused by the bucket if the source's checksum differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        compiled = bucket.bytecode_to_string()
        with self._lock:
            self._compiled[bucket.key] = compiled

    def clear(self) -> None:
        with self._lock:
            self._compiled.clear()


CACHE = ProcessBytecodeCache()


def register(app) -> None:
    app.jinja_env.bytecode_cache = CACHE
