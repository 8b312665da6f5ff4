from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.delivery_info import DeliveryInfo
    from ..models.invitation_info import InvitationInfo


T = TypeVar("T", bound="UserListItem")


@_attrs_define
class UserListItem:
    """
    Attributes:
        created_at (datetime.datetime):
        email (str):
        id (int):
        is_active (bool):
        role (str):
        verified (bool):
        discord_id (None | str | Unset): The linked Discord account.
        full_name (None | str | Unset):
        invitation (InvitationInfo | None | Unset):
        last_email (DeliveryInfo | None | Unset):
        username (None | str | Unset):
        verified_at (datetime.datetime | None | Unset):
    """

    created_at: datetime.datetime
    email: str
    id: int
    is_active: bool
    role: str
    verified: bool
    discord_id: None | str | Unset = UNSET
    full_name: None | str | Unset = UNSET
    invitation: InvitationInfo | None | Unset = UNSET
    last_email: DeliveryInfo | None | Unset = UNSET
    username: None | str | Unset = UNSET
    verified_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.delivery_info import DeliveryInfo  # noqa: PLC0415
        from ..models.invitation_info import InvitationInfo  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        email = self.email

        id = self.id

        is_active = self.is_active

        role = self.role

        verified = self.verified

        discord_id: None | str | Unset
        if isinstance(self.discord_id, Unset):
            discord_id = UNSET
        else:
            discord_id = self.discord_id

        full_name: None | str | Unset
        if isinstance(self.full_name, Unset):
            full_name = UNSET
        else:
            full_name = self.full_name

        invitation: dict[str, Any] | None | Unset
        if isinstance(self.invitation, Unset):
            invitation = UNSET
        elif isinstance(self.invitation, InvitationInfo):
            invitation = self.invitation.to_dict()
        else:
            invitation = self.invitation

        last_email: dict[str, Any] | None | Unset
        if isinstance(self.last_email, Unset):
            last_email = UNSET
        elif isinstance(self.last_email, DeliveryInfo):
            last_email = self.last_email.to_dict()
        else:
            last_email = self.last_email

        username: None | str | Unset
        if isinstance(self.username, Unset):
            username = UNSET
        else:
            username = self.username

        verified_at: None | str | Unset
        if isinstance(self.verified_at, Unset):
            verified_at = UNSET
        elif isinstance(self.verified_at, datetime.datetime):
            verified_at = self.verified_at.isoformat()
        else:
            verified_at = self.verified_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "email": email,
                "id": id,
                "is_active": is_active,
                "role": role,
                "verified": verified,
            }
        )
        if discord_id is not UNSET:
            field_dict["discord_id"] = discord_id
        if full_name is not UNSET:
            field_dict["full_name"] = full_name
        if invitation is not UNSET:
            field_dict["invitation"] = invitation
        if last_email is not UNSET:
            field_dict["last_email"] = last_email
        if username is not UNSET:
            field_dict["username"] = username
        if verified_at is not UNSET:
            field_dict["verified_at"] = verified_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.delivery_info import DeliveryInfo  # noqa: PLC0415
        from ..models.invitation_info import InvitationInfo  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        email = d.pop("email")

        id = d.pop("id")

        is_active = d.pop("is_active")

        role = d.pop("role")

        verified = d.pop("verified")

        def _parse_discord_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        discord_id = _parse_discord_id(d.pop("discord_id", UNSET))

        def _parse_full_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        full_name = _parse_full_name(d.pop("full_name", UNSET))

        def _parse_invitation(data: object) -> InvitationInfo | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                invitation_type_1 = InvitationInfo.from_dict(data)

                return invitation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(InvitationInfo | None | Unset, data)

        invitation = _parse_invitation(d.pop("invitation", UNSET))

        def _parse_last_email(data: object) -> DeliveryInfo | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                last_email_type_1 = DeliveryInfo.from_dict(data)

                return last_email_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DeliveryInfo | None | Unset, data)

        last_email = _parse_last_email(d.pop("last_email", UNSET))

        def _parse_username(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        username = _parse_username(d.pop("username", UNSET))

        def _parse_verified_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                verified_at_type_0 = datetime.datetime.fromisoformat(data)

                return verified_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        verified_at = _parse_verified_at(d.pop("verified_at", UNSET))

        user_list_item = cls(
            created_at=created_at,
            email=email,
            id=id,
            is_active=is_active,
            role=role,
            verified=verified,
            discord_id=discord_id,
            full_name=full_name,
            invitation=invitation,
            last_email=last_email,
            username=username,
            verified_at=verified_at,
        )

        user_list_item.additional_properties = d
        return user_list_item

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
