from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.row_result import RowResult


T = TypeVar("T", bound="UploadReport")


@_attrs_define
class UploadReport:
    """
    Attributes:
        created (int):
        duplicate (int):
        invalid (int):
        results (list[RowResult]): One result per data row, in file order.
        rows (int):
        updated (int):
        upload_id (UUID):
    """

    created: int
    duplicate: int
    invalid: int
    results: list[RowResult]
    rows: int
    updated: int
    upload_id: UUID
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created = self.created

        duplicate = self.duplicate

        invalid = self.invalid

        results = []
        for results_item_data in self.results:
            results_item = results_item_data.to_dict()
            results.append(results_item)

        rows = self.rows

        updated = self.updated

        upload_id = str(self.upload_id)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created": created,
                "duplicate": duplicate,
                "invalid": invalid,
                "results": results,
                "rows": rows,
                "updated": updated,
                "upload_id": upload_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.row_result import RowResult  # noqa: PLC0415

        d = dict(src_dict)
        created = d.pop("created")

        duplicate = d.pop("duplicate")

        invalid = d.pop("invalid")

        results = []
        _results = d.pop("results")
        for results_item_data in _results:
            results_item = RowResult.from_dict(results_item_data)

            results.append(results_item)

        rows = d.pop("rows")

        updated = d.pop("updated")

        upload_id = UUID(d.pop("upload_id"))

        upload_report = cls(
            created=created,
            duplicate=duplicate,
            invalid=invalid,
            results=results,
            rows=rows,
            updated=updated,
            upload_id=upload_id,
        )

        upload_report.additional_properties = d
        return upload_report

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
