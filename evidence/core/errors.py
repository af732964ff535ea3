class EvidenceError(Exception):
    """A request the product refuses for a reason the user can act on; the message is shown as is."""


class ConflictError(EvidenceError):
    """The object changed since the form was loaded (optimistic locking); nothing was overwritten."""

    def __init__(self, label: str):
        super().__init__(f"{label} was changed by someone else since you opened it; reload it and redo your change")


def check_version(obj, expected) -> None:
    """Refuse to save over a newer version than the one the user's form was loaded with."""
    if expected is not None and obj.version != int(expected):
        label = getattr(obj, "ref", None) or getattr(obj, "code", None) or f"#{obj.id}"
        raise ConflictError(label)
