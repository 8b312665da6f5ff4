from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BatchStatus")


@_attrs_define
class BatchStatus:
    """
    Attributes:
        batch_id (UUID):
        created_at (datetime.datetime):
        failed (int):
        finished (bool): Every mail is sent or failed for good.
        queued (int):
        requested_by (str):
        retrying (int):
        sent (int):
        total (int):
    """

    batch_id: UUID
    created_at: datetime.datetime
    failed: int
    finished: bool
    queued: int
    requested_by: str
    retrying: int
    sent: int
    total: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        batch_id = str(self.batch_id)

        created_at = self.created_at.isoformat()

        failed = self.failed

        finished = self.finished

        queued = self.queued

        requested_by = self.requested_by

        retrying = self.retrying

        sent = self.sent

        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "batch_id": batch_id,
                "created_at": created_at,
                "failed": failed,
                "finished": finished,
                "queued": queued,
                "requested_by": requested_by,
                "retrying": retrying,
                "sent": sent,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        batch_id = UUID(d.pop("batch_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        failed = d.pop("failed")

        finished = d.pop("finished")

        queued = d.pop("queued")

        requested_by = d.pop("requested_by")

        retrying = d.pop("retrying")

        sent = d.pop("sent")

        total = d.pop("total")

        batch_status = cls(
            batch_id=batch_id,
            created_at=created_at,
            failed=failed,
            finished=finished,
            queued=queued,
            requested_by=requested_by,
            retrying=retrying,
            sent=sent,
            total=total,
        )

        batch_status.additional_properties = d
        return batch_status

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
