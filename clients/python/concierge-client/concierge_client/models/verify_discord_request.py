from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="VerifyDiscordRequest")


@_attrs_define
class VerifyDiscordRequest:
    """
    Attributes:
        discord_id (str): The member's Discord user id (a snowflake, as a string).
        email (str):
        token (str):
    """

    discord_id: str
    email: str
    token: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        discord_id = self.discord_id

        email = self.email

        token = self.token

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "discord_id": discord_id,
                "email": email,
                "token": token,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        discord_id = d.pop("discord_id")

        email = d.pop("email")

        token = d.pop("token")

        verify_discord_request = cls(
            discord_id=discord_id,
            email=email,
            token=token,
        )

        verify_discord_request.additional_properties = d
        return verify_discord_request

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
