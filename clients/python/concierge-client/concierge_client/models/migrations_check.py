from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.check_status import CheckStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="MigrationsCheck")


@_attrs_define
class MigrationsCheck:
    """The schema version of the database against the one this build expects.

    Attributes:
        expected_version (int): Newest migration shipped in this build.
        status (CheckStatus):
        applied_version (int | None | Unset): Newest applied migration; absent when none was ever applied or the
            database is down.
        error (None | str | Unset):
    """

    expected_version: int
    status: CheckStatus
    applied_version: int | None | Unset = UNSET
    error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        expected_version = self.expected_version

        status = self.status.value

        applied_version: int | None | Unset
        if isinstance(self.applied_version, Unset):
            applied_version = UNSET
        else:
            applied_version = self.applied_version

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "expected_version": expected_version,
                "status": status,
            }
        )
        if applied_version is not UNSET:
            field_dict["applied_version"] = applied_version
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        expected_version = d.pop("expected_version")

        status = CheckStatus(d.pop("status"))

        def _parse_applied_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        applied_version = _parse_applied_version(d.pop("applied_version", UNSET))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        migrations_check = cls(
            expected_version=expected_version,
            status=status,
            applied_version=applied_version,
            error=error,
        )

        migrations_check.additional_properties = d
        return migrations_check

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
