from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.user_list_item import UserListItem


T = TypeVar("T", bound="UserPage")


@_attrs_define
class UserPage:
    """
    Attributes:
        page (int):
        per_page (int):
        total (int): Users matching the filters, on all pages.
        users (list[UserListItem]):
    """

    page: int
    per_page: int
    total: int
    users: list[UserListItem]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        page = self.page

        per_page = self.per_page

        total = self.total

        users = []
        for users_item_data in self.users:
            users_item = users_item_data.to_dict()
            users.append(users_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "page": page,
                "per_page": per_page,
                "total": total,
                "users": users,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.user_list_item import UserListItem  # noqa: PLC0415

        d = dict(src_dict)
        page = d.pop("page")

        per_page = d.pop("per_page")

        total = d.pop("total")

        users = []
        _users = d.pop("users")
        for users_item_data in _users:
            users_item = UserListItem.from_dict(users_item_data)

            users.append(users_item)

        user_page = cls(
            page=page,
            per_page=per_page,
            total=total,
            users=users,
        )

        user_page.additional_properties = d
        return user_page

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
