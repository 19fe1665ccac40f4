"""Use cases. Each public function owns one transaction (``write_transaction``) and commits once."""


class ServiceError(Exception):
    """A use case refused: the message is for the person who asked."""


class NotFound(ServiceError):
    """The object does not exist or is outside the caller's reach (shown as 404)."""
