from enum import StrEnum


class DeliveryStatus(StrEnum):
    FAILED = "failed"
    QUEUED = "queued"
    RETRYING = "retrying"
    SENT = "sent"

    def __str__(self) -> str:
        return str(self.value)
