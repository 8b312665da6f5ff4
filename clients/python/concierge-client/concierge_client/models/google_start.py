from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="GoogleStart")


@_attrs_define
class GoogleStart:
    """
    Attributes:
        authorization_url (str): Send the user here; Google redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`.
        expires_in (int): Seconds the state stays valid.
        state (str):
    """

    authorization_url: str
    expires_in: int
    state: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        authorization_url = self.authorization_url

        expires_in = self.expires_in

        state = self.state

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "authorization_url": authorization_url,
                "expires_in": expires_in,
                "state": state,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        authorization_url = d.pop("authorization_url")

        expires_in = d.pop("expires_in")

        state = d.pop("state")

        google_start = cls(
            authorization_url=authorization_url,
            expires_in=expires_in,
            state=state,
        )

        google_start.additional_properties = d
        return google_start

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
