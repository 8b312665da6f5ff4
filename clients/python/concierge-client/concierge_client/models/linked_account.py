from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="LinkedAccount")


@_attrs_define
class LinkedAccount:
    """An account at an OAuth provider linked to the user.

    Attributes:
        created_at (datetime.datetime):
        email_verified (bool): The provider vouches for `email`.
        provider (str): `discord` or `google`.
        subject (str): The provider's id of the account (the Discord id, the Google subject).
        confirmed_at (datetime.datetime | None | Unset): When the link was confirmed; an unconfirmed Discord link grants
            nothing.
        email (None | str | Unset):
        last_login_at (datetime.datetime | None | Unset):
        provider_username (None | str | Unset):
    """

    created_at: datetime.datetime
    email_verified: bool
    provider: str
    subject: str
    confirmed_at: datetime.datetime | None | Unset = UNSET
    email: None | str | Unset = UNSET
    last_login_at: datetime.datetime | None | Unset = UNSET
    provider_username: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        email_verified = self.email_verified

        provider = self.provider

        subject = self.subject

        confirmed_at: None | str | Unset
        if isinstance(self.confirmed_at, Unset):
            confirmed_at = UNSET
        elif isinstance(self.confirmed_at, datetime.datetime):
            confirmed_at = self.confirmed_at.isoformat()
        else:
            confirmed_at = self.confirmed_at

        email: None | str | Unset
        if isinstance(self.email, Unset):
            email = UNSET
        else:
            email = self.email

        last_login_at: None | str | Unset
        if isinstance(self.last_login_at, Unset):
            last_login_at = UNSET
        elif isinstance(self.last_login_at, datetime.datetime):
            last_login_at = self.last_login_at.isoformat()
        else:
            last_login_at = self.last_login_at

        provider_username: None | str | Unset
        if isinstance(self.provider_username, Unset):
            provider_username = UNSET
        else:
            provider_username = self.provider_username

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "email_verified": email_verified,
                "provider": provider,
                "subject": subject,
            }
        )
        if confirmed_at is not UNSET:
            field_dict["confirmed_at"] = confirmed_at
        if email is not UNSET:
            field_dict["email"] = email
        if last_login_at is not UNSET:
            field_dict["last_login_at"] = last_login_at
        if provider_username is not UNSET:
            field_dict["provider_username"] = provider_username

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        email_verified = d.pop("email_verified")

        provider = d.pop("provider")

        subject = d.pop("subject")

        def _parse_confirmed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                confirmed_at_type_0 = datetime.datetime.fromisoformat(data)

                return confirmed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        confirmed_at = _parse_confirmed_at(d.pop("confirmed_at", UNSET))

        def _parse_email(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        email = _parse_email(d.pop("email", UNSET))

        def _parse_last_login_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_login_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_login_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_login_at = _parse_last_login_at(d.pop("last_login_at", UNSET))

        def _parse_provider_username(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        provider_username = _parse_provider_username(d.pop("provider_username", UNSET))

        linked_account = cls(
            created_at=created_at,
            email_verified=email_verified,
            provider=provider,
            subject=subject,
            confirmed_at=confirmed_at,
            email=email,
            last_login_at=last_login_at,
            provider_username=provider_username,
        )

        linked_account.additional_properties = d
        return linked_account

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
