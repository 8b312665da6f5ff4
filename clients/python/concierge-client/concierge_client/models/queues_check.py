from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.check_status import CheckStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.queue_summary import QueueSummary


T = TypeVar("T", bound="QueuesCheck")


@_attrs_define
class QueuesCheck:
    """The job queues: `down` while one is paused (its jobs wait until an admin resumes it).

    Attributes:
        paused (list[str]): The paused queues.
        queues (list[QueueSummary]): Every queue's sizes (empty when they could not be read).
        status (CheckStatus):
        error (None | str | Unset): What is wrong, e.g. `paused: exchange_oauth_code (sign-ins wait until it is
            resumed)`.
    """

    paused: list[str]
    queues: list[QueueSummary]
    status: CheckStatus
    error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        paused = self.paused

        queues = []
        for queues_item_data in self.queues:
            queues_item = queues_item_data.to_dict()
            queues.append(queues_item)

        status = self.status.value

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "paused": paused,
                "queues": queues,
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.queue_summary import QueueSummary  # noqa: PLC0415

        d = dict(src_dict)
        paused = cast(list[str], d.pop("paused"))

        queues = []
        _queues = d.pop("queues")
        for queues_item_data in _queues:
            queues_item = QueueSummary.from_dict(queues_item_data)

            queues.append(queues_item)

        status = CheckStatus(d.pop("status"))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        queues_check = cls(
            paused=paused,
            queues=queues,
            status=status,
            error=error,
        )

        queues_check.additional_properties = d
        return queues_check

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
