from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="VerifyResponse")


@_attrs_define
class VerifyResponse:
    """
    Attributes:
        already_verified (bool): True when the account was verified before this call.
        message (str):
        success (bool):
        user_id (int):
    """

    already_verified: bool
    message: str
    success: bool
    user_id: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        already_verified = self.already_verified

        message = self.message

        success = self.success

        user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "already_verified": already_verified,
                "message": message,
                "success": success,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        already_verified = d.pop("already_verified")

        message = d.pop("message")

        success = d.pop("success")

        user_id = d.pop("user_id")

        verify_response = cls(
            already_verified=already_verified,
            message=message,
            success=success,
            user_id=user_id,
        )

        verify_response.additional_properties = d
        return verify_response

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
