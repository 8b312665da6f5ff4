from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Reissued")


@_attrs_define
class Reissued:
    """
    Attributes:
        delivery_id (int): The queued invitation mail.
        job_id (str):
        message (str):
        success (bool):
        user_id (int):
    """

    delivery_id: int
    job_id: str
    message: str
    success: bool
    user_id: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        delivery_id = self.delivery_id

        job_id = self.job_id

        message = self.message

        success = self.success

        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "delivery_id": delivery_id,
                "job_id": job_id,
                "message": message,
                "success": success,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        delivery_id = d.pop("delivery_id")

        job_id = d.pop("job_id")

        message = d.pop("message")

        success = d.pop("success")

        user_id = d.pop("user_id")

        reissued = cls(
            delivery_id=delivery_id,
            job_id=job_id,
            message=message,
            success=success,
            user_id=user_id,
        )

        reissued.additional_properties = d
        return reissued

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
