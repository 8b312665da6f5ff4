from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.invitation_status import InvitationStatus
from ...models.role import Role
from ...models.user_page import UserPage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    page: int | Unset = 1,
    per_page: int | Unset = 100,
    verified: bool | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: InvitationStatus | Unset = UNSET,
    q: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["page"] = page

    params["per_page"] = per_page

    params["verified"] = verified

    json_role: str | Unset = UNSET
    if not isinstance(role, Unset):
        json_role = role.value

    params["role"] = json_role

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["q"] = q

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/users",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | UserPage | None:
    if response.status_code == 200:
        response_200 = UserPage.from_dict(response.json())

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | UserPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    per_page: int | Unset = 100,
    verified: bool | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: InvitationStatus | Unset = UNSET,
    q: str | Unset = UNSET,
) -> Response[ErrorBody | UserPage]:
    """Users, in id order, with their Discord link, invitation and latest email.

    Args:
        page (int | Unset):  Default: 1.
        per_page (int | Unset):  Default: 100.
        verified (bool | Unset):
        role (Role | Unset):
        status (InvitationStatus | Unset):
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | UserPage]
    """

    kwargs = _get_kwargs(
        page=page,
        per_page=per_page,
        verified=verified,
        role=role,
        status=status,
        q=q,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    per_page: int | Unset = 100,
    verified: bool | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: InvitationStatus | Unset = UNSET,
    q: str | Unset = UNSET,
) -> ErrorBody | UserPage | None:
    """Users, in id order, with their Discord link, invitation and latest email.

    Args:
        page (int | Unset):  Default: 1.
        per_page (int | Unset):  Default: 100.
        verified (bool | Unset):
        role (Role | Unset):
        status (InvitationStatus | Unset):
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | UserPage
    """

    return sync_detailed(
        client=client,
        page=page,
        per_page=per_page,
        verified=verified,
        role=role,
        status=status,
        q=q,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    per_page: int | Unset = 100,
    verified: bool | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: InvitationStatus | Unset = UNSET,
    q: str | Unset = UNSET,
) -> Response[ErrorBody | UserPage]:
    """Users, in id order, with their Discord link, invitation and latest email.

    Args:
        page (int | Unset):  Default: 1.
        per_page (int | Unset):  Default: 100.
        verified (bool | Unset):
        role (Role | Unset):
        status (InvitationStatus | Unset):
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | UserPage]
    """

    kwargs = _get_kwargs(
        page=page,
        per_page=per_page,
        verified=verified,
        role=role,
        status=status,
        q=q,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    per_page: int | Unset = 100,
    verified: bool | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: InvitationStatus | Unset = UNSET,
    q: str | Unset = UNSET,
) -> ErrorBody | UserPage | None:
    """Users, in id order, with their Discord link, invitation and latest email.

    Args:
        page (int | Unset):  Default: 1.
        per_page (int | Unset):  Default: 100.
        verified (bool | Unset):
        role (Role | Unset):
        status (InvitationStatus | Unset):
        q (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | UserPage
    """

    return (
        await asyncio_detailed(
            client=client,
            page=page,
            per_page=per_page,
            verified=verified,
            role=role,
            status=status,
            q=q,
        )
    ).parsed
