from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.delete_all_users_confirm import DeleteAllUsersConfirm
from ...models.deleted import Deleted
from ...models.error_body import ErrorBody
from ...types import UNSET, Response


def _get_kwargs(
    *,
    confirm: DeleteAllUsersConfirm,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_confirm = confirm.value
    params["confirm"] = json_confirm

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/api/all",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Deleted | ErrorBody | None:
    if response.status_code == 200:
        response_200 = Deleted.from_dict(response.json())

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

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Deleted | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    confirm: DeleteAllUsersConfirm,
) -> Response[Deleted | ErrorBody]:
    """Delete every user except admins. Requires `confirm=DELETE ALL USERS`.

    Args:
        confirm (DeleteAllUsersConfirm):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Deleted | ErrorBody]
    """

    kwargs = _get_kwargs(
        confirm=confirm,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    confirm: DeleteAllUsersConfirm,
) -> Deleted | ErrorBody | None:
    """Delete every user except admins. Requires `confirm=DELETE ALL USERS`.

    Args:
        confirm (DeleteAllUsersConfirm):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Deleted | ErrorBody
    """

    return sync_detailed(
        client=client,
        confirm=confirm,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    confirm: DeleteAllUsersConfirm,
) -> Response[Deleted | ErrorBody]:
    """Delete every user except admins. Requires `confirm=DELETE ALL USERS`.

    Args:
        confirm (DeleteAllUsersConfirm):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Deleted | ErrorBody]
    """

    kwargs = _get_kwargs(
        confirm=confirm,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    confirm: DeleteAllUsersConfirm,
) -> Deleted | ErrorBody | None:
    """Delete every user except admins. Requires `confirm=DELETE ALL USERS`.

    Args:
        confirm (DeleteAllUsersConfirm):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Deleted | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            confirm=confirm,
        )
    ).parsed
