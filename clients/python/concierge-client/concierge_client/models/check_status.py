from enum import StrEnum


class CheckStatus(StrEnum):
    DOWN = "down"
    UNKNOWN = "unknown"
    UP = "up"

    def __str__(self) -> str:
        return str(self.value)
