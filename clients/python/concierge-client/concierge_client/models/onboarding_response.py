from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OnboardingResponse")


@_attrs_define
class OnboardingResponse:
    """
    Attributes:
        auth_code (str): Fallback: DM the bot `/login <auth_code>` (valid 24 hours).
        expires_in (int): Seconds `verification_token` stays valid.
        instructions (str): What to tell the member.
        success (bool):
        user_id (int):
        verification_token (None | str | Unset): The `state` inside `verification_url`: single use, valid for
            `expires_in` seconds.
        verification_url (None | str | Unset): Discord's authorization page for this member (with `state` and PKCE);
            absent when
            Discord OAuth is not configured or the member chose another channel.
    """

    auth_code: str
    expires_in: int
    instructions: str
    success: bool
    user_id: int
    verification_token: None | str | Unset = UNSET
    verification_url: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        auth_code = self.auth_code

        expires_in = self.expires_in

        instructions = self.instructions

        success = self.success

        user_id = self.user_id

        verification_token: None | str | Unset
        if isinstance(self.verification_token, Unset):
            verification_token = UNSET
        else:
            verification_token = self.verification_token

        verification_url: None | str | Unset
        if isinstance(self.verification_url, Unset):
            verification_url = UNSET
        else:
            verification_url = self.verification_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "auth_code": auth_code,
                "expires_in": expires_in,
                "instructions": instructions,
                "success": success,
                "user_id": user_id,
            }
        )
        if verification_token is not UNSET:
            field_dict["verification_token"] = verification_token
        if verification_url is not UNSET:
            field_dict["verification_url"] = verification_url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        auth_code = d.pop("auth_code")

        expires_in = d.pop("expires_in")

        instructions = d.pop("instructions")

        success = d.pop("success")

        user_id = d.pop("user_id")

        def _parse_verification_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        verification_token = _parse_verification_token(d.pop("verification_token", UNSET))

        def _parse_verification_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        verification_url = _parse_verification_url(d.pop("verification_url", UNSET))

        onboarding_response = cls(
            auth_code=auth_code,
            expires_in=expires_in,
            instructions=instructions,
            success=success,
            user_id=user_id,
            verification_token=verification_token,
            verification_url=verification_url,
        )

        onboarding_response.additional_properties = d
        return onboarding_response

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
