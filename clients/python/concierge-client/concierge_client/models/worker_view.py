from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="WorkerView")


@_attrs_define
class WorkerView:
    """
    Attributes:
        concurrency (int): Jobs it runs at once.
        host (str):
        last_heartbeat_ms (int): UNIX ms of its last heartbeat.
        name (str): Unique per worker run: host, pid and a random suffix.
        pid (int):
        queue (str):
    """

    concurrency: int
    host: str
    last_heartbeat_ms: int
    name: str
    pid: int
    queue: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        concurrency = self.concurrency

        host = self.host

        last_heartbeat_ms = self.last_heartbeat_ms

        name = self.name

        pid = self.pid

        queue = self.queue

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "concurrency": concurrency,
                "host": host,
                "last_heartbeat_ms": last_heartbeat_ms,
                "name": name,
                "pid": pid,
                "queue": queue,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        concurrency = d.pop("concurrency")

        host = d.pop("host")

        last_heartbeat_ms = d.pop("last_heartbeat_ms")

        name = d.pop("name")

        pid = d.pop("pid")

        queue = d.pop("queue")

        worker_view = cls(
            concurrency=concurrency,
            host=host,
            last_heartbeat_ms=last_heartbeat_ms,
            name=name,
            pid=pid,
            queue=queue,
        )

        worker_view.additional_properties = d
        return worker_view

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
