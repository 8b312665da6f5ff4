from enum import StrEnum


class DeleteAllUsersConfirm(StrEnum):
    DELETE_ALL_USERS = "DELETE ALL USERS"

    def __str__(self) -> str:
        return str(self.value)
