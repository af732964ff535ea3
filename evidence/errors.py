class EvidenceError(Exception):
    """A request the product refuses for a reason the user can act on; the message is shown as is."""
