from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.job_view import JobView
from ...models.state_filter import StateFilter
from ...types import UNSET, Response, Unset


def _get_kwargs(
    queue: str,
    *,
    state: StateFilter | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
    q: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_state: str | Unset = UNSET
    if not isinstance(state, Unset):
        json_state = state.value

    params["state"] = json_state

    params["limit"] = limit

    params["offset"] = offset

    params["q"] = q

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/admin/queues/{queue}/jobs".format(
            queue=quote(str(queue), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | list[JobView] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in _response_200:
            response_200_item = JobView.from_dict(response_200_item_data)

            response_200.append(response_200_item)

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
) -> Response[ErrorBody | list[JobView]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    queue: str,
    *,
    client: AuthenticatedClient,
    state: StateFilter | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
    q: str | Unset = UNSET,
) -> Response[ErrorBody | list[JobView]]:
    """Jobs of a queue in one state (default: waiting), newest finished first.

    Args:
        queue (str):
        state (StateFilter | Unset):
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | list[JobView]]
    """

    kwargs = _get_kwargs(
        queue=queue,
        state=state,
        limit=limit,
        offset=offset,
        q=q,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    queue: str,
    *,
    client: AuthenticatedClient,
    state: StateFilter | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
    q: str | Unset = UNSET,
) -> ErrorBody | list[JobView] | None:
    """Jobs of a queue in one state (default: waiting), newest finished first.

    Args:
        queue (str):
        state (StateFilter | Unset):
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | list[JobView]
    """

    return sync_detailed(
        queue=queue,
        client=client,
        state=state,
        limit=limit,
        offset=offset,
        q=q,
    ).parsed


async def asyncio_detailed(
    queue: str,
    *,
    client: AuthenticatedClient,
    state: StateFilter | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
    q: str | Unset = UNSET,
) -> Response[ErrorBody | list[JobView]]:
    """Jobs of a queue in one state (default: waiting), newest finished first.

    Args:
        queue (str):
        state (StateFilter | Unset):
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | list[JobView]]
    """

    kwargs = _get_kwargs(
        queue=queue,
        state=state,
        limit=limit,
        offset=offset,
        q=q,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    queue: str,
    *,
    client: AuthenticatedClient,
    state: StateFilter | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
    q: str | Unset = UNSET,
) -> ErrorBody | list[JobView] | None:
    """Jobs of a queue in one state (default: waiting), newest finished first.

    Args:
        queue (str):
        state (StateFilter | Unset):
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | list[JobView]
    """

    return (
        await asyncio_detailed(
            queue=queue,
            client=client,
            state=state,
            limit=limit,
            offset=offset,
            q=q,
        )
    ).parsed
