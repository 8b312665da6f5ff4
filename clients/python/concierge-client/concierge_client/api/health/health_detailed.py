from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.detailed_health import DetailedHealth
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/health/detailed",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> DetailedHealth | ErrorBody | None:
    if response.status_code == 200:
        response_200 = DetailedHealth.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = DetailedHealth.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[DetailedHealth | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[DetailedHealth | ErrorBody]:
    """Dependency health: database, Redis, schema version, the queues (sizes, oldest job,
    paused) and the workers (live processes, last heartbeat), with build information.
    Answers 503 when anything is down, naming it in `failing` and saying why in its
    check's `error`. Admin only.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DetailedHealth | ErrorBody]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> DetailedHealth | ErrorBody | None:
    """Dependency health: database, Redis, schema version, the queues (sizes, oldest job,
    paused) and the workers (live processes, last heartbeat), with build information.
    Answers 503 when anything is down, naming it in `failing` and saying why in its
    check's `error`. Admin only.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DetailedHealth | ErrorBody
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[DetailedHealth | ErrorBody]:
    """Dependency health: database, Redis, schema version, the queues (sizes, oldest job,
    paused) and the workers (live processes, last heartbeat), with build information.
    Answers 503 when anything is down, naming it in `failing` and saying why in its
    check's `error`. Admin only.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[DetailedHealth | ErrorBody]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> DetailedHealth | ErrorBody | None:
    """Dependency health: database, Redis, schema version, the queues (sizes, oldest job,
    paused) and the workers (live processes, last heartbeat), with build information.
    Answers 503 when anything is down, naming it in `failing` and saying why in its
    check's `error`. Admin only.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        DetailedHealth | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
