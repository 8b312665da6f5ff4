from enum import StrEnum


class InvitationStatus(StrEnum):
    EXPIRED = "expired"
    FAILED = "failed"
    PENDING = "pending"
    REVOKED = "revoked"
    SENT = "sent"
    VERIFIED = "verified"

    def __str__(self) -> str:
        return str(self.value)
