from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="QueueSummary")


@_attrs_define
class QueueSummary:
    """
    Attributes:
        dead (int): In the dead-letter set (failed for good), replayable.
        finished_last_minute (int): Jobs finished (done, failed or dead) in the last minute.
        oldest_age_seconds (int): Age of the oldest unfinished job (waiting or running), in seconds.
        paused (bool): Workers claim nothing from a paused queue.
        queue (str):
        retrying (int): An attempt failed; waiting for the backoff before the next one.
        running (int): Claimed by a worker.
        scheduled (int): Pushed to run later, waiting for their time.
        waiting (int): Not yet claimed by a worker.
        oldest_waiting_seconds (int | None | Unset): How long the oldest job no worker has claimed yet has waited, in
            seconds; null when
            nothing waits.
    """

    dead: int
    finished_last_minute: int
    oldest_age_seconds: int
    paused: bool
    queue: str
    retrying: int
    running: int
    scheduled: int
    waiting: int
    oldest_waiting_seconds: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dead = self.dead

        finished_last_minute = self.finished_last_minute

        oldest_age_seconds = self.oldest_age_seconds

        paused = self.paused

        queue = self.queue

        retrying = self.retrying

        running = self.running

        scheduled = self.scheduled

        waiting = self.waiting

        oldest_waiting_seconds: int | None | Unset
        if isinstance(self.oldest_waiting_seconds, Unset):
            oldest_waiting_seconds = UNSET
        else:
            oldest_waiting_seconds = self.oldest_waiting_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dead": dead,
                "finished_last_minute": finished_last_minute,
                "oldest_age_seconds": oldest_age_seconds,
                "paused": paused,
                "queue": queue,
                "retrying": retrying,
                "running": running,
                "scheduled": scheduled,
                "waiting": waiting,
            }
        )
        if oldest_waiting_seconds is not UNSET:
            field_dict["oldest_waiting_seconds"] = oldest_waiting_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dead = d.pop("dead")

        finished_last_minute = d.pop("finished_last_minute")

        oldest_age_seconds = d.pop("oldest_age_seconds")

        paused = d.pop("paused")

        queue = d.pop("queue")

        retrying = d.pop("retrying")

        running = d.pop("running")

        scheduled = d.pop("scheduled")

        waiting = d.pop("waiting")

        def _parse_oldest_waiting_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        oldest_waiting_seconds = _parse_oldest_waiting_seconds(d.pop("oldest_waiting_seconds", UNSET))

        queue_summary = cls(
            dead=dead,
            finished_last_minute=finished_last_minute,
            oldest_age_seconds=oldest_age_seconds,
            paused=paused,
            queue=queue,
            retrying=retrying,
            running=running,
            scheduled=scheduled,
            waiting=waiting,
            oldest_waiting_seconds=oldest_waiting_seconds,
        )

        queue_summary.additional_properties = d
        return queue_summary

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
