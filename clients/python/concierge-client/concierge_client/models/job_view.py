from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="JobView")


@_attrs_define
class JobView:
    """
    Attributes:
        attempts (int):
        id (str):
        max_attempts (int):
        queue (str):
        state (str): `pending`, `scheduled`, `running`, `retrying`, `done`, `failed`, `dead`.
        enqueued_at_ms (int | None | Unset):
        error (None | str | Unset): The last attempt's error.
        finished_at_ms (int | None | Unset):
        payload (Any | Unset): The payload, with secrets (tokens, codes, keys, sealed values) replaced by
            `[redacted]`.
        result (Any | Unset): The handler's result when done.
        run_at_ms (int | None | Unset):
        started_at_ms (int | None | Unset):
        trace (None | str | Unset): The W3C `traceparent` of the request or event that pushed the job.
    """

    attempts: int
    id: str
    max_attempts: int
    queue: str
    state: str
    enqueued_at_ms: int | None | Unset = UNSET
    error: None | str | Unset = UNSET
    finished_at_ms: int | None | Unset = UNSET
    payload: Any | Unset = UNSET
    result: Any | Unset = UNSET
    run_at_ms: int | None | Unset = UNSET
    started_at_ms: int | None | Unset = UNSET
    trace: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        id = self.id

        max_attempts = self.max_attempts

        queue = self.queue

        state = self.state

        enqueued_at_ms: int | None | Unset
        if isinstance(self.enqueued_at_ms, Unset):
            enqueued_at_ms = UNSET
        else:
            enqueued_at_ms = self.enqueued_at_ms

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        finished_at_ms: int | None | Unset
        if isinstance(self.finished_at_ms, Unset):
            finished_at_ms = UNSET
        else:
            finished_at_ms = self.finished_at_ms

        payload = self.payload

        result = self.result

        run_at_ms: int | None | Unset
        if isinstance(self.run_at_ms, Unset):
            run_at_ms = UNSET
        else:
            run_at_ms = self.run_at_ms

        started_at_ms: int | None | Unset
        if isinstance(self.started_at_ms, Unset):
            started_at_ms = UNSET
        else:
            started_at_ms = self.started_at_ms

        trace: None | str | Unset
        if isinstance(self.trace, Unset):
            trace = UNSET
        else:
            trace = self.trace

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "id": id,
                "max_attempts": max_attempts,
                "queue": queue,
                "state": state,
            }
        )
        if enqueued_at_ms is not UNSET:
            field_dict["enqueued_at_ms"] = enqueued_at_ms
        if error is not UNSET:
            field_dict["error"] = error
        if finished_at_ms is not UNSET:
            field_dict["finished_at_ms"] = finished_at_ms
        if payload is not UNSET:
            field_dict["payload"] = payload
        if result is not UNSET:
            field_dict["result"] = result
        if run_at_ms is not UNSET:
            field_dict["run_at_ms"] = run_at_ms
        if started_at_ms is not UNSET:
            field_dict["started_at_ms"] = started_at_ms
        if trace is not UNSET:
            field_dict["trace"] = trace

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempts = d.pop("attempts")

        id = d.pop("id")

        max_attempts = d.pop("max_attempts")

        queue = d.pop("queue")

        state = d.pop("state")

        def _parse_enqueued_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        enqueued_at_ms = _parse_enqueued_at_ms(d.pop("enqueued_at_ms", UNSET))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_finished_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        finished_at_ms = _parse_finished_at_ms(d.pop("finished_at_ms", UNSET))

        payload = d.pop("payload", UNSET)

        result = d.pop("result", UNSET)

        def _parse_run_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        run_at_ms = _parse_run_at_ms(d.pop("run_at_ms", UNSET))

        def _parse_started_at_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        started_at_ms = _parse_started_at_ms(d.pop("started_at_ms", UNSET))

        def _parse_trace(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        trace = _parse_trace(d.pop("trace", UNSET))

        job_view = cls(
            attempts=attempts,
            id=id,
            max_attempts=max_attempts,
            queue=queue,
            state=state,
            enqueued_at_ms=enqueued_at_ms,
            error=error,
            finished_at_ms=finished_at_ms,
            payload=payload,
            result=result,
            run_at_ms=run_at_ms,
            started_at_ms=started_at_ms,
            trace=trace,
        )

        job_view.additional_properties = d
        return job_view

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
