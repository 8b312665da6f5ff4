from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.throughput import Throughput
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    queue: str | Unset = UNSET,
    minutes: int | Unset = 60,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["queue"] = queue

    params["minutes"] = minutes

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/admin/throughput",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | Throughput | None:
    if response.status_code == 200:
        response_200 = Throughput.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | Throughput]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    queue: str | Unset = UNSET,
    minutes: int | Unset = 60,
) -> Response[ErrorBody | Throughput]:
    """Jobs done and attempts failed per minute over the last `minutes` (default 60, at most
    120), of one queue or of all.

    Args:
        queue (str | Unset):
        minutes (int | Unset):  Default: 60.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | Throughput]
    """

    kwargs = _get_kwargs(
        queue=queue,
        minutes=minutes,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    queue: str | Unset = UNSET,
    minutes: int | Unset = 60,
) -> ErrorBody | Throughput | None:
    """Jobs done and attempts failed per minute over the last `minutes` (default 60, at most
    120), of one queue or of all.

    Args:
        queue (str | Unset):
        minutes (int | Unset):  Default: 60.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | Throughput
    """

    return sync_detailed(
        client=client,
        queue=queue,
        minutes=minutes,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    queue: str | Unset = UNSET,
    minutes: int | Unset = 60,
) -> Response[ErrorBody | Throughput]:
    """Jobs done and attempts failed per minute over the last `minutes` (default 60, at most
    120), of one queue or of all.

    Args:
        queue (str | Unset):
        minutes (int | Unset):  Default: 60.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | Throughput]
    """

    kwargs = _get_kwargs(
        queue=queue,
        minutes=minutes,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    queue: str | Unset = UNSET,
    minutes: int | Unset = 60,
) -> ErrorBody | Throughput | None:
    """Jobs done and attempts failed per minute over the last `minutes` (default 60, at most
    120), of one queue or of all.

    Args:
        queue (str | Unset):
        minutes (int | Unset):  Default: 60.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | Throughput
    """

    return (
        await asyncio_detailed(
            client=client,
            queue=queue,
            minutes=minutes,
        )
    ).parsed
