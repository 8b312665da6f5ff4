from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="LoginCodeRequest")


@_attrs_define
class LoginCodeRequest:
    """The bot's `/login <code>` fallback: links a Discord account to the code's user.

    Attributes:
        code (str): The code from the onboarding answer; case and dashes do not matter.
        discord_id (str): The Discord user id (a snowflake, as a string).
    """

    code: str
    discord_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        discord_id = self.discord_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "discord_id": discord_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        discord_id = d.pop("discord_id")

        login_code_request = cls(
            code=code,
            discord_id=discord_id,
        )

        login_code_request.additional_properties = d
        return login_code_request

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
