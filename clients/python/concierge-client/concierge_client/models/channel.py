from enum import StrEnum


class Channel(StrEnum):
    DISCORD = "discord"
    EMAIL = "email"
    WEB = "web"

    def __str__(self) -> str:
        return str(self.value)
