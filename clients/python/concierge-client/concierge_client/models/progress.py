from enum import StrEnum


class Progress(StrEnum):
    ERROR = "error"
    PENDING = "pending"
    SUCCESS = "success"

    def __str__(self) -> str:
        return str(self.value)
