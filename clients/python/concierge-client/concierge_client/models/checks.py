from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dependency_check import DependencyCheck
    from ..models.migrations_check import MigrationsCheck
    from ..models.queues_check import QueuesCheck
    from ..models.workers_check import WorkersCheck


T = TypeVar("T", bound="Checks")


@_attrs_define
class Checks:
    """
    Attributes:
        database (DependencyCheck): One dependency.
        migrations (MigrationsCheck): The schema version of the database against the one this build expects.
        queues (QueuesCheck): The job queues: `down` while one is paused (its jobs wait until an admin resumes it).
        redis (DependencyCheck): One dependency.
        workers (WorkersCheck): The workers: `down` when none is live, or when a queue with jobs waiting has none.
    """

    database: DependencyCheck
    migrations: MigrationsCheck
    queues: QueuesCheck
    redis: DependencyCheck
    workers: WorkersCheck
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        database = self.database.to_dict()

        migrations = self.migrations.to_dict()

        queues = self.queues.to_dict()

        redis = self.redis.to_dict()

        workers = self.workers.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "database": database,
                "migrations": migrations,
                "queues": queues,
                "redis": redis,
                "workers": workers,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dependency_check import DependencyCheck  # noqa: PLC0415
        from ..models.migrations_check import MigrationsCheck  # noqa: PLC0415
        from ..models.queues_check import QueuesCheck  # noqa: PLC0415
        from ..models.workers_check import WorkersCheck  # noqa: PLC0415

        d = dict(src_dict)
        database = DependencyCheck.from_dict(d.pop("database"))

        migrations = MigrationsCheck.from_dict(d.pop("migrations"))

        queues = QueuesCheck.from_dict(d.pop("queues"))

        redis = DependencyCheck.from_dict(d.pop("redis"))

        workers = WorkersCheck.from_dict(d.pop("workers"))

        checks = cls(
            database=database,
            migrations=migrations,
            queues=queues,
            redis=redis,
            workers=workers,
        )

        checks.additional_properties = d
        return checks

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
