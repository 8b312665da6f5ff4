from enum import StrEnum


class StateFilter(StrEnum):
    DEAD = "dead"
    DONE = "done"
    RETRYING = "retrying"
    RUNNING = "running"
    SCHEDULED = "scheduled"
    WAITING = "waiting"

    def __str__(self) -> str:
        return str(self.value)
