from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.audit_entry import AuditEntry
    from ..models.invitation_detail import InvitationDetail
    from ..models.linked_account import LinkedAccount
    from ..models.mail_view import MailView


T = TypeVar("T", bound="UserDetail")


@_attrs_define
class UserDetail:
    """Everything about one user.

    Attributes:
        accounts (list[LinkedAccount]):
        audit (list[AuditEntry]): The newest 50 audit rows about the user, newest first.
        created_at (datetime.datetime):
        email (str):
        id (int):
        is_active (bool):
        mails (list[MailView]): The newest 20 mails, newest first.
        role (str):
        verified (bool):
        communication_channel (None | str | Unset):
        full_name (None | str | Unset):
        invitation (InvitationDetail | None | Unset):
        personality (None | str | Unset):
        username (None | str | Unset):
        verified_at (datetime.datetime | None | Unset):
    """

    accounts: list[LinkedAccount]
    audit: list[AuditEntry]
    created_at: datetime.datetime
    email: str
    id: int
    is_active: bool
    mails: list[MailView]
    role: str
    verified: bool
    communication_channel: None | str | Unset = UNSET
    full_name: None | str | Unset = UNSET
    invitation: InvitationDetail | None | Unset = UNSET
    personality: None | str | Unset = UNSET
    username: None | str | Unset = UNSET
    verified_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.invitation_detail import InvitationDetail  # noqa: PLC0415

        accounts = []
        for accounts_item_data in self.accounts:
            accounts_item = accounts_item_data.to_dict()
            accounts.append(accounts_item)

        audit = []
        for audit_item_data in self.audit:
            audit_item = audit_item_data.to_dict()
            audit.append(audit_item)

        created_at = self.created_at.isoformat()

        email = self.email

        id = self.id

        is_active = self.is_active

        mails = []
        for mails_item_data in self.mails:
            mails_item = mails_item_data.to_dict()
            mails.append(mails_item)

        role = self.role

        verified = self.verified

        communication_channel: None | str | Unset
        if isinstance(self.communication_channel, Unset):
            communication_channel = UNSET
        else:
            communication_channel = self.communication_channel

        full_name: None | str | Unset
        if isinstance(self.full_name, Unset):
            full_name = UNSET
        else:
            full_name = self.full_name

        invitation: dict[str, Any] | None | Unset
        if isinstance(self.invitation, Unset):
            invitation = UNSET
        elif isinstance(self.invitation, InvitationDetail):
            invitation = self.invitation.to_dict()
        else:
            invitation = self.invitation

        personality: None | str | Unset
        if isinstance(self.personality, Unset):
            personality = UNSET
        else:
            personality = self.personality

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
                "accounts": accounts,
                "audit": audit,
                "created_at": created_at,
                "email": email,
                "id": id,
                "is_active": is_active,
                "mails": mails,
                "role": role,
                "verified": verified,
            }
        )
        if communication_channel is not UNSET:
            field_dict["communication_channel"] = communication_channel
        if full_name is not UNSET:
            field_dict["full_name"] = full_name
        if invitation is not UNSET:
            field_dict["invitation"] = invitation
        if personality is not UNSET:
            field_dict["personality"] = personality
        if username is not UNSET:
            field_dict["username"] = username
        if verified_at is not UNSET:
            field_dict["verified_at"] = verified_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_entry import AuditEntry  # noqa: PLC0415
        from ..models.invitation_detail import InvitationDetail  # noqa: PLC0415
        from ..models.linked_account import LinkedAccount  # noqa: PLC0415
        from ..models.mail_view import MailView  # noqa: PLC0415

        d = dict(src_dict)
        accounts = []
        _accounts = d.pop("accounts")
        for accounts_item_data in _accounts:
            accounts_item = LinkedAccount.from_dict(accounts_item_data)

            accounts.append(accounts_item)

        audit = []
        _audit = d.pop("audit")
        for audit_item_data in _audit:
            audit_item = AuditEntry.from_dict(audit_item_data)

            audit.append(audit_item)

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        email = d.pop("email")

        id = d.pop("id")

        is_active = d.pop("is_active")

        mails = []
        _mails = d.pop("mails")
        for mails_item_data in _mails:
            mails_item = MailView.from_dict(mails_item_data)

            mails.append(mails_item)

        role = d.pop("role")

        verified = d.pop("verified")

        def _parse_communication_channel(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        communication_channel = _parse_communication_channel(d.pop("communication_channel", UNSET))

        def _parse_full_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        full_name = _parse_full_name(d.pop("full_name", UNSET))

        def _parse_invitation(data: object) -> InvitationDetail | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                invitation_type_1 = InvitationDetail.from_dict(data)

                return invitation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(InvitationDetail | None | Unset, data)

        invitation = _parse_invitation(d.pop("invitation", UNSET))

        def _parse_personality(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        personality = _parse_personality(d.pop("personality", UNSET))

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

        user_detail = cls(
            accounts=accounts,
            audit=audit,
            created_at=created_at,
            email=email,
            id=id,
            is_active=is_active,
            mails=mails,
            role=role,
            verified=verified,
            communication_channel=communication_channel,
            full_name=full_name,
            invitation=invitation,
            personality=personality,
            username=username,
            verified_at=verified_at,
        )

        user_detail.additional_properties = d
        return user_detail

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
