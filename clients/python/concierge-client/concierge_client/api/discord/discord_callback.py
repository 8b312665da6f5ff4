from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["code"] = code

    params["state"] = state

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/discord/callback",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | ErrorBody | None:
    if response.status_code == 302:
        response_302 = cast(Any, None)
        return response_302

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
) -> Response[Any | ErrorBody]:
    """Discord's OAuth redirect target. Always redirects: to
    `{WEB_APP_BASE_URL}/discord/success?username=…`, to `/discord/error?error=<code>`
    (`missing_params`, `invalid_token`, `oauth_not_configured`, `token_exchange_failed`,
    `no_access_token`, `user_info_failed`, `no_discord_id`, `verification_failed`,
    `server_error`), or to `/discord/pending?job_id=…` when linking takes longer than the
    wait (poll `GET /api/jobs/{id}`).

    Args:
        code (str | Unset):
        state (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
    """

    kwargs = _get_kwargs(
        code=code,
        state=state,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
) -> Any | ErrorBody | None:
    """Discord's OAuth redirect target. Always redirects: to
    `{WEB_APP_BASE_URL}/discord/success?username=…`, to `/discord/error?error=<code>`
    (`missing_params`, `invalid_token`, `oauth_not_configured`, `token_exchange_failed`,
    `no_access_token`, `user_info_failed`, `no_discord_id`, `verification_failed`,
    `server_error`), or to `/discord/pending?job_id=…` when linking takes longer than the
    wait (poll `GET /api/jobs/{id}`).

    Args:
        code (str | Unset):
        state (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
    """

    return sync_detailed(
        client=client,
        code=code,
        state=state,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
) -> Response[Any | ErrorBody]:
    """Discord's OAuth redirect target. Always redirects: to
    `{WEB_APP_BASE_URL}/discord/success?username=…`, to `/discord/error?error=<code>`
    (`missing_params`, `invalid_token`, `oauth_not_configured`, `token_exchange_failed`,
    `no_access_token`, `user_info_failed`, `no_discord_id`, `verification_failed`,
    `server_error`), or to `/discord/pending?job_id=…` when linking takes longer than the
    wait (poll `GET /api/jobs/{id}`).

    Args:
        code (str | Unset):
        state (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
    """

    kwargs = _get_kwargs(
        code=code,
        state=state,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    code: str | Unset = UNSET,
    state: str | Unset = UNSET,
) -> Any | ErrorBody | None:
    """Discord's OAuth redirect target. Always redirects: to
    `{WEB_APP_BASE_URL}/discord/success?username=…`, to `/discord/error?error=<code>`
    (`missing_params`, `invalid_token`, `oauth_not_configured`, `token_exchange_failed`,
    `no_access_token`, `user_info_failed`, `no_discord_id`, `verification_failed`,
    `server_error`), or to `/discord/pending?job_id=…` when linking takes longer than the
    wait (poll `GET /api/jobs/{id}`).

    Args:
        code (str | Unset):
        state (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
    """

    return (
        await asyncio_detailed(
            client=client,
            code=code,
            state=state,
        )
    ).parsed
