"""URL rules whose builders are made once per process.

Werkzeug generates, compiles and executes two Python functions for every rule it binds (the URL builders that
`url_for` calls). For this product's 170 rules that was three quarters of making an app (52 of 69 ms of
processor time): paid by every command of the command line, every gunicorn worker and every test. A builder
depends only on the rule's text, its parsed parts and its defaults, so one compiled for an app serves every
other app of the process: the function takes the rule as its first argument and reads nothing else."""
from __future__ import annotations

import threading

from werkzeug.routing import Rule as WerkzeugRule

_builders: dict = {}
_lock = threading.Lock()


class Rule(WerkzeugRule):
    def _compile_builder(self, append_unknown: bool = True):
        key = (self.rule, self.host, self.subdomain, tuple(self._trace),
               repr(sorted((self.defaults or {}).items())), append_unknown)
        builder = _builders.get(key)
        if builder is None:
            builder = super()._compile_builder(append_unknown)
            with _lock:
                builder = _builders.setdefault(key, builder)
        return builder
