from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.batch_mails import BatchMails
from ...models.delivery_status import DeliveryStatus
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: UUID,
    *,
    status: DeliveryStatus | Unset = UNSET,
    after: int | Unset = 0,
    limit: int | Unset = 100,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["after"] = after

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/batches/{id}/mails".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> BatchMails | ErrorBody | None:
    if response.status_code == 200:
        response_200 = BatchMails.from_dict(response.json())

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
) -> Response[BatchMails | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    status: DeliveryStatus | Unset = UNSET,
    after: int | Unset = 0,
    limit: int | Unset = 100,
) -> Response[BatchMails | ErrorBody]:
    """A batch's mails in the order they were queued, with their status and the reason of
    a failure; `status=failed` lists the ones to resend.

    Args:
        id (UUID):
        status (DeliveryStatus | Unset): A delivery's status, to filter a batch's mails by.
        after (int | Unset):  Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchMails | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        status=status,
        after=after,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: UUID,
    *,
    client: AuthenticatedClient,
    status: DeliveryStatus | Unset = UNSET,
    after: int | Unset = 0,
    limit: int | Unset = 100,
) -> BatchMails | ErrorBody | None:
    """A batch's mails in the order they were queued, with their status and the reason of
    a failure; `status=failed` lists the ones to resend.

    Args:
        id (UUID):
        status (DeliveryStatus | Unset): A delivery's status, to filter a batch's mails by.
        after (int | Unset):  Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchMails | ErrorBody
    """

    return sync_detailed(
        id=id,
        client=client,
        status=status,
        after=after,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    status: DeliveryStatus | Unset = UNSET,
    after: int | Unset = 0,
    limit: int | Unset = 100,
) -> Response[BatchMails | ErrorBody]:
    """A batch's mails in the order they were queued, with their status and the reason of
    a failure; `status=failed` lists the ones to resend.

    Args:
        id (UUID):
        status (DeliveryStatus | Unset): A delivery's status, to filter a batch's mails by.
        after (int | Unset):  Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchMails | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        status=status,
        after=after,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: UUID,
    *,
    client: AuthenticatedClient,
    status: DeliveryStatus | Unset = UNSET,
    after: int | Unset = 0,
    limit: int | Unset = 100,
) -> BatchMails | ErrorBody | None:
    """A batch's mails in the order they were queued, with their status and the reason of
    a failure; `status=failed` lists the ones to resend.

    Args:
        id (UUID):
        status (DeliveryStatus | Unset): A delivery's status, to filter a batch's mails by.
        after (int | Unset):  Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchMails | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            status=status,
            after=after,
            limit=limit,
        )
    ).parsed
