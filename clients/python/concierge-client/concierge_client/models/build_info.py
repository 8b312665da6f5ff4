from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BuildInfo")


@_attrs_define
class BuildInfo:
    """What this build is, as reported by `/api/health/detailed`.

    Attributes:
        git_commit (str): Git commit the binary was built from, `unknown` outside a checkout.
        profile (str): `debug` or `release`.
        version (str): Package version.
    """

    git_commit: str
    profile: str
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        git_commit = self.git_commit

        profile = self.profile

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "git_commit": git_commit,
                "profile": profile,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        git_commit = d.pop("git_commit")

        profile = d.pop("profile")

        version = d.pop("version")

        build_info = cls(
            git_commit=git_commit,
            profile=profile,
            version=version,
        )

        build_info.additional_properties = d
        return build_info

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
