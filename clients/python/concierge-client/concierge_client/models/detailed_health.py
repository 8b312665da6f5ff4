from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.overall_status import OverallStatus

if TYPE_CHECKING:
    from ..models.build_info import BuildInfo
    from ..models.checks import Checks


T = TypeVar("T", bound="DetailedHealth")


@_attrs_define
class DetailedHealth:
    """Health of the process and everything it depends on.

    Attributes:
        build (BuildInfo): What this build is, as reported by `/api/health/detailed`.
        checks (Checks):
        failing (list[str]): Names of the checks that are down (`database`, `redis`, `migrations`, `queues`,
            `workers`).
        status (OverallStatus):
        timestamp (datetime.datetime):
    """

    build: BuildInfo
    checks: Checks
    failing: list[str]
    status: OverallStatus
    timestamp: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        build = self.build.to_dict()

        checks = self.checks.to_dict()

        failing = self.failing

        status = self.status.value

        timestamp = self.timestamp.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "build": build,
                "checks": checks,
                "failing": failing,
                "status": status,
                "timestamp": timestamp,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.build_info import BuildInfo  # noqa: PLC0415
        from ..models.checks import Checks  # noqa: PLC0415

        d = dict(src_dict)
        build = BuildInfo.from_dict(d.pop("build"))

        checks = Checks.from_dict(d.pop("checks"))

        failing = cast(list[str], d.pop("failing"))

        status = OverallStatus(d.pop("status"))

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        detailed_health = cls(
            build=build,
            checks=checks,
            failing=failing,
            status=status,
            timestamp=timestamp,
        )

        detailed_health.additional_properties = d
        return detailed_health

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
