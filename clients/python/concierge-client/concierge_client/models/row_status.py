from enum import StrEnum


class RowStatus(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    UPDATED = "updated"

    def __str__(self) -> str:
        return str(self.value)
