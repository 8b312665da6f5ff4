from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.admin_events_response_200 import AdminEventsResponse200
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/admin/events",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AdminEventsResponse200 | ErrorBody | None:
    if response.status_code == 200:
        response_200 = AdminEventsResponse200.from_dict(response.text)

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

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AdminEventsResponse200 | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[AdminEventsResponse200 | ErrorBody]:
    """Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    live charts. Send the admin credentials as headers (read it with `fetch`, not
    `EventSource`, which cannot send them).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AdminEventsResponse200 | ErrorBody]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> AdminEventsResponse200 | ErrorBody | None:
    """Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    live charts. Send the admin credentials as headers (read it with `fetch`, not
    `EventSource`, which cannot send them).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AdminEventsResponse200 | ErrorBody
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[AdminEventsResponse200 | ErrorBody]:
    """Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    live charts. Send the admin credentials as headers (read it with `fetch`, not
    `EventSource`, which cannot send them).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AdminEventsResponse200 | ErrorBody]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> AdminEventsResponse200 | ErrorBody | None:
    """Queue sizes every two seconds, as server-sent events (`data: [QueueSummary…]`), for
    live charts. Send the admin credentials as headers (read it with `fetch`, not
    `EventSource`, which cannot send them).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AdminEventsResponse200 | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
