from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.check_status import CheckStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="WorkersCheck")


@_attrs_define
class WorkersCheck:
    """The workers: `down` when none is live, or when a queue with jobs waiting has none.

    Attributes:
        live (int): Worker processes with a heartbeat in the last two leases.
        queues_without_workers (list[str]): Queues no live worker takes.
        status (CheckStatus):
        error (None | str | Unset): What is wrong, e.g. `no live worker takes send_email (12 waiting)`.
        last_heartbeat_ms (int | None | Unset): The newest heartbeat of any worker (UNIX ms); absent when none is live.
    """

    live: int
    queues_without_workers: list[str]
    status: CheckStatus
    error: None | str | Unset = UNSET
    last_heartbeat_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        live = self.live

        queues_without_workers = self.queues_without_workers

        status = self.status.value

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        last_heartbeat_ms: int | None | Unset
        if isinstance(self.last_heartbeat_ms, Unset):
            last_heartbeat_ms = UNSET
        else:
            last_heartbeat_ms = self.last_heartbeat_ms

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "live": live,
                "queues_without_workers": queues_without_workers,
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if last_heartbeat_ms is not UNSET:
            field_dict["last_heartbeat_ms"] = last_heartbeat_ms

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        live = d.pop("live")

        queues_without_workers = cast(list[str], d.pop("queues_without_workers"))

        status = CheckStatus(d.pop("status"))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_last_heartbeat_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        last_heartbeat_ms = _parse_last_heartbeat_ms(d.pop("last_heartbeat_ms", UNSET))

        workers_check = cls(
            live=live,
            queues_without_workers=queues_without_workers,
            status=status,
            error=error,
            last_heartbeat_ms=last_heartbeat_ms,
        )

        workers_check.additional_properties = d
        return workers_check

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
