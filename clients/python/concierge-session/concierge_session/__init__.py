"""Seed 002's Python OAuth client, over the client generated from Concierge's spec.

    oauth = OAuthManager(backend_url="http://localhost:8000", token_file="~/.concierge.json")
    oauth.login(on_success=lambda user: print(user.name), on_logout=lambda: print("bye"),
                access_token=google_access_token)
    while running:
        oauth.process_callbacks()   # the callbacks run here, on this thread

- ``login`` signs in with a Google access token (``POST /api/login``), or resumes the
  session in ``token_file``; it repeats the request while the API answers 202 (Google slow).
- Every call refreshes the tokens once on a 401 and tries again. A refresh is single-flight:
  threads that need one at once share one ``POST /api/refresh`` (a refresh token works once;
  presenting it twice would end the session).
- A refresh that fails ends the session: the tokens are forgotten (and the file removed), and
  ``on_logout`` is queued. ``logout`` does the same after ``POST /api/logout``.
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from concierge_client import AuthenticatedClient, Client
from concierge_client.api.sessions import login as login_op
from concierge_client.api.sessions import logout as logout_op
from concierge_client.api.sessions import me as me_op
from concierge_client.api.sessions import refresh as refresh_op
from concierge_client.api.sessions import update_username as update_username_op
from concierge_client.models import LoginRequest, RefreshRequest, UsernameRequest
from concierge_client.models import UserInfo as ApiUser

__all__ = ["OAuthManager", "SessionError", "UserInfo"]

# No call waits for ever (the generated client's default): a hung API would hold the refresh
# lock, and every thread behind it.
TIMEOUT = httpx.Timeout(30.0)


@dataclass(frozen=True)
class UserInfo:
    """Seed 002's user: id, name, email, picture; and ours: username, role, verified."""

    id: int
    name: str
    email: str
    picture: str | None
    username: str | None
    role: str
    verified: bool

    @classmethod
    def of(cls, user: ApiUser) -> UserInfo:
        def given(value: Any) -> Any:
            return value if isinstance(value, str) else None

        return cls(user.id, user.name, user.email, given(user.picture), given(user.username), user.role, user.verified)


class SessionError(Exception):
    """A call the API refused: `code` is the API's error code (e.g. `invalid_token`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _refused(response: Any) -> SessionError:
    body = response.parsed
    code = getattr(body, "code", None) or "unexpected"
    message = getattr(body, "message", None) or response.content.decode(errors="replace")[:200]
    return SessionError(int(response.status_code), code, message)


class OAuthManager:
    """One signed-in user's session with the API at `backend_url`."""

    def __init__(
        self,
        backend_url: str = "http://localhost:8000",
        token_file: str | os.PathLike[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        login_wait: float = 60.0,
    ) -> None:
        # client_id/client_secret: seed 002's signature; Google's side of the sign-in (getting
        # the access token) is the application's, so they are kept for it, not sent anywhere.
        self.client_id, self.client_secret = client_id, client_secret
        self.backend_url = backend_url.rstrip("/")
        self.token_file = Path(token_file).expanduser() if token_file else None
        self.login_wait = login_wait
        self._lock = threading.Lock()
        self._tokens: dict[str, str] | None = self._load()
        self._callbacks: queue.Queue[Callable[[], None]] = queue.Queue()
        self._on_success: Callable[[UserInfo], None] | None = None
        self._on_logout: Callable[[], None] | None = None
        self.refreshes = 0  # POST /api/refresh calls made, for the curious (and the tests)

    # The session.

    def login(
        self,
        on_success: Callable[[UserInfo], None],
        on_logout: Callable[[], None],
        access_token: str | None = None,
    ) -> UserInfo | None:
        """Signs in with a Google access token, or resumes the saved session without one.
        Queues `on_success(user)`; returns the user, or None when there is no session."""
        self._on_success, self._on_logout = on_success, on_logout
        if access_token is None:
            if self._tokens is None:
                return None
            try:
                user = self.me()
            except SessionError as e:
                if e.status != 401:
                    raise
                return None  # the saved session is over (on_logout is queued)
        else:
            user = self._sign_in(access_token)
        self._callbacks.put(lambda: on_success(user))
        return user

    def _sign_in(self, access_token: str) -> UserInfo:
        anonymous = self._anonymous()
        deadline = time.monotonic() + self.login_wait
        while True:
            response = self._send(login_op.sync_detailed, client=anonymous, body=LoginRequest(access_token=access_token))
            if response.status_code == 200:
                tokens = response.parsed
                self._store({"access_token": tokens.access_token, "refresh_token": tokens.refresh_token})
                return UserInfo.of(tokens.user)
            # 202: Google is slow; the same request waits again for the same sign-in.
            if response.status_code != 202 or time.monotonic() > deadline:
                raise _refused(response)

    def logout(self) -> None:
        """Ends the session at the API and here; queues `on_logout`."""
        tokens = self._tokens
        try:
            if tokens is not None:
                body = RefreshRequest(refresh_token=tokens["refresh_token"])
                self._send(logout_op.sync_detailed, client=self._anonymous(), body=body)
        finally:
            self._end()

    def process_callbacks(self) -> None:
        """Runs the queued callbacks on the calling thread (seed 002: the main loop's)."""
        while True:
            try:
                callback = self._callbacks.get_nowait()
            except queue.Empty:
                return
            callback()

    @property
    def signed_in(self) -> bool:
        return self._tokens is not None

    # The calls, each refreshed once on a 401.

    def me(self) -> UserInfo:
        return UserInfo.of(self._call(me_op.sync_detailed))

    def refresh_tokens(self) -> UserInfo:
        """Seed 002: the latest user information."""
        return self.me()

    def update_username(self, new_username: str) -> UserInfo:
        return UserInfo.of(self._call(update_username_op.sync_detailed, body=UsernameRequest(new_username=new_username)))

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        for attempt in (1, 2):
            tokens = self._tokens
            if tokens is None:
                raise SessionError(401, "signed_out", "not signed in")
            client = AuthenticatedClient(
                base_url=self.backend_url, token=tokens["access_token"], raise_on_unexpected_status=False,
                timeout=TIMEOUT,
            )
            response = self._send(operation, client=client, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._refresh(tokens["access_token"])
                continue
            if 200 <= response.status_code < 300:
                return response.parsed
            raise _refused(response)
        raise AssertionError("unreachable")

    def _refresh(self, stale: str) -> None:
        """Single-flight: the first thread with `stale` refreshes; the others find it done."""
        with self._lock:
            tokens = self._tokens
            if tokens is None:
                raise SessionError(401, "signed_out", "the session ended")
            if tokens["access_token"] != stale:
                return  # another thread refreshed meanwhile
            self.refreshes += 1
            body = RefreshRequest(refresh_token=tokens["refresh_token"])
            response = self._send(refresh_op.sync_detailed, client=self._anonymous(), body=body)
            # Refused (the token is spent, revoked or unknown): the session is over. Anything
            # else (429, 5xx) is for now: keep the tokens and let the caller try again.
            if response.status_code in (400, 401):
                self._end_locked()
            if response.status_code != 200:
                raise _refused(response)
            fresh = response.parsed
            self._store_locked({"access_token": fresh.access_token, "refresh_token": fresh.refresh_token})

    def _anonymous(self) -> Client:
        return Client(base_url=self.backend_url, raise_on_unexpected_status=False, timeout=TIMEOUT)

    @staticmethod
    def _send(operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except httpx.HTTPError as e:
            raise SessionError(0, "unreachable", f"the API could not be reached: {e}") from e

    # The tokens, in memory and in `token_file` (written whole, 0600, then renamed over).

    def _load(self) -> dict[str, str] | None:
        if self.token_file is None or not self.token_file.exists():
            return None
        try:
            data = json.loads(self.token_file.read_text())
            return {"access_token": str(data["access_token"]), "refresh_token": str(data["refresh_token"])}
        except (OSError, ValueError, KeyError):
            return None

    def _store(self, tokens: dict[str, str]) -> None:
        with self._lock:
            self._store_locked(tokens)

    def _store_locked(self, tokens: dict[str, str]) -> None:
        self._tokens = tokens
        if self.token_file is not None:
            # A new file (mkstemp: 0600, ours), synced, renamed over the old one: a crash
            # leaves the old tokens or the new, never half a file, and never a planted file's
            # permissions or a symlink's target.
            fd, scratch = tempfile.mkstemp(dir=self.token_file.parent, prefix=".tokens-")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(tokens, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(scratch, self.token_file)
            except BaseException:
                Path(scratch).unlink(missing_ok=True)
                raise

    def _end(self) -> None:
        with self._lock:
            self._end_locked()

    def _end_locked(self) -> None:
        was = self._tokens is not None
        self._tokens = None
        if self.token_file is not None:
            self.token_file.unlink(missing_ok=True)
        if was and self._on_logout is not None:
            self._callbacks.put(self._on_logout)
