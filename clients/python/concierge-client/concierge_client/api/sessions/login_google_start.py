from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.google_start import GoogleStart
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/login/google",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | GoogleStart | None:
    if response.status_code == 200:
        response_200 = GoogleStart.from_dict(response.json())

        return response_200

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | GoogleStart]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorBody | GoogleStart]:
    """Start the authorization-code flow with PKCE: the URL to send the user to. Google
    redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`; post both to `/api/login`
    from the same browser: the state is bound to it by the HttpOnly cookie this answer
    sets (`SameSite=Strict`; `__Host-` and `Secure` when `GOOGLE_REDIRECT_URI` is https).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | GoogleStart]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorBody | GoogleStart | None:
    """Start the authorization-code flow with PKCE: the URL to send the user to. Google
    redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`; post both to `/api/login`
    from the same browser: the state is bound to it by the HttpOnly cookie this answer
    sets (`SameSite=Strict`; `__Host-` and `Secure` when `GOOGLE_REDIRECT_URI` is https).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | GoogleStart
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorBody | GoogleStart]:
    """Start the authorization-code flow with PKCE: the URL to send the user to. Google
    redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`; post both to `/api/login`
    from the same browser: the state is bound to it by the HttpOnly cookie this answer
    sets (`SameSite=Strict`; `__Host-` and `Secure` when `GOOGLE_REDIRECT_URI` is https).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | GoogleStart]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorBody | GoogleStart | None:
    """Start the authorization-code flow with PKCE: the URL to send the user to. Google
    redirects to `GOOGLE_REDIRECT_URI` with `code` and `state`; post both to `/api/login`
    from the same browser: the state is bound to it by the HttpOnly cookie this answer
    sets (`SameSite=Strict`; `__Host-` and `Secure` when `GOOGLE_REDIRECT_URI` is https).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | GoogleStart
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
