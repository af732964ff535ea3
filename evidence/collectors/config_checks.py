"""What the configuration collectors (tls-ssh) share: one judged check, and the counts and failures it adds up to.

Pure: text in, values out (no file, no Flask, no SQL), so that each rule is tested with a table of cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from evidence.collectors import Counts, Failing

PASS = "pass"
FAIL = "fail"
# A recommendation the guide lets a team depart from with a reason the files cannot show (password logins behind a
# bastion, a forwarding the service needs): not a failure, a point a person judges (counted as "manual").
ADVICE = "advice"
STATUSES = (PASS, FAIL, ADVICE)
SEVERITY = {PASS: 0, ADVICE: 1, FAIL: 2}


def worst(statuses: Iterable[str]) -> str:
    """The gravest of the statuses (a pass when there are none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=PASS)


@dataclass(frozen=True)
class Check:
    """One rule judged on one host's configuration.

    id: stable ("ssh.ciphers"), the failing list's check id; source: the recommendation it comes from, as the guide
    titles it ("[NT_SSH] algorithmes de chiffrement": by topic, the guide's numbering changes between editions); title: what the rule asks, in French and English; detail: what was
    found, with where ("sshd_config:12"); the values are the configuration's own words.
    """

    id: str
    source: str
    title_fr: str
    title_en: str
    status: str
    detail: str

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"check status {self.status!r} is not one of {STATUSES}")

    def as_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "title": {"fr": self.title_fr, "en": self.title_en},
                "status": self.status, "detail": self.detail}


def counts_of(checks: Iterable[Check]) -> Counts:
    checks = list(checks)
    return Counts(passed=sum(c.status == PASS for c in checks), failed=sum(c.status == FAIL for c in checks),
                  manual=sum(c.status == ADVICE for c in checks))


def failing_of(checks: Iterable[Check], resource: str) -> tuple[Failing, ...]:
    """The checks that did not pass, on `resource` (the host): failures, then the advice a person should judge
    (their status text says so; they are not counted as failures)."""
    checks = list(checks)
    failed = [Failing(check=c.id, resource=resource, status=c.detail) for c in checks if c.status == FAIL]
    advice = [Failing(check=c.id, resource=resource, status=f"recommendation to judge: {c.detail}")
              for c in checks if c.status == ADVICE]
    return tuple(failed + advice)


def split_list(text: str) -> list[str]:
    """A comma-separated list of algorithms or protocols, as sshd and OpenSSL write them."""
    return [word.strip() for word in text.replace(" ", ",").split(",") if word.strip()]


def shown(values: Iterable[str], limit: int = 6) -> str:
    """A few values for a detail line, and how many more there are."""
    values = list(values)
    head = ", ".join(values[:limit])
    return head + (f" (+{len(values) - limit} more)" if len(values) > limit else "")
