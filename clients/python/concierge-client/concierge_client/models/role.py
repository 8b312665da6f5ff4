from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    PERSONAL_ONLY = "personal_only"

    def __str__(self) -> str:
        return str(self.value)
