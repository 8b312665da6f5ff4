from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MinuteView")


@_attrs_define
class MinuteView:
    """What ended in one minute.

    Attributes:
        done (int): Jobs done.
        failed (int): Attempts that failed (to be retried, or failed for good).
        minute_start_ms (int): The minute's start, UNIX ms.
    """

    done: int
    failed: int
    minute_start_ms: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        done = self.done

        failed = self.failed

        minute_start_ms = self.minute_start_ms

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "done": done,
                "failed": failed,
                "minute_start_ms": minute_start_ms,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        done = d.pop("done")

        failed = d.pop("failed")

        minute_start_ms = d.pop("minute_start_ms")

        minute_view = cls(
            done=done,
            failed=failed,
            minute_start_ms=minute_start_ms,
        )

        minute_view.additional_properties = d
        return minute_view

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
