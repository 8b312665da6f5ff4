"""Seed 002's client shape against a running Concierge: login with callbacks run by
process_callbacks, tokens persisted and resumed, a single-flight refresh when several
threads need one, on_logout when a refresh fails or on logout."""

from __future__ import annotations

import stat
import threading
import uuid
from pathlib import Path

import pytest

from concierge_session import OAuthManager, SessionError, UserInfo


def name() -> str:
    return "u" + uuid.uuid4().hex[:10]


class Events:
    def __init__(self) -> None:
        self.users: list[UserInfo] = []
        self.logouts = 0

    def success(self, user: UserInfo) -> None:
        self.users.append(user)

    def logout(self) -> None:
        self.logouts += 1


def test_login_runs_on_success_in_process_callbacks_and_persists(backend: str, tmp_path: Path) -> None:
    events, who = Events(), name()
    tokens = tmp_path / "tokens.json"
    oauth = OAuthManager(backend_url=backend, token_file=tokens)
    user = oauth.login(on_success=events.success, on_logout=events.logout, access_token=f"good-{who}")
    assert user is not None and user.email == f"{who}@example.test"
    assert events.users == [], "callbacks wait for process_callbacks"
    oauth.process_callbacks()
    assert [u.email for u in events.users] == [f"{who}@example.test"]
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    # A new manager on the same file resumes the session without Google.
    again = OAuthManager(backend_url=backend, token_file=tokens)
    resumed = again.login(on_success=events.success, on_logout=events.logout)
    assert resumed is not None and resumed.id == user.id
    assert again.update_username(f"{who}-name").username == f"{who}-name"


def test_a_token_google_refuses_signs_nobody_in(backend: str) -> None:
    events = Events()
    oauth = OAuthManager(backend_url=backend)
    with pytest.raises(SessionError) as refused:
        oauth.login(on_success=events.success, on_logout=events.logout, access_token="forged")
    assert refused.value.status == 401 and refused.value.code == "invalid_token"
    assert not oauth.signed_in


def test_threads_needing_a_refresh_at_once_share_one(backend: str) -> None:
    events = Events()
    oauth = OAuthManager(backend_url=backend)
    oauth.login(on_success=events.success, on_logout=events.logout, access_token=f"good-{name()}")
    # The access token expires (here: is spoiled); eight threads call at once.
    oauth._tokens = dict(oauth._tokens, access_token="expired.access.token")
    barrier, results, errors = threading.Barrier(8), [], []

    def call() -> None:
        barrier.wait()
        try:
            results.append(oauth.me())
        except SessionError as e:
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 8
    # One refresh: presenting its refresh token twice would have ended the session.
    assert oauth.refreshes == 1
    oauth.process_callbacks()
    assert events.logouts == 0 and oauth.signed_in
    assert oauth.me().id == results[0].id


def test_a_failed_refresh_ends_the_session_with_on_logout(backend: str, tmp_path: Path) -> None:
    events = Events()
    tokens = tmp_path / "tokens.json"
    oauth = OAuthManager(backend_url=backend, token_file=tokens)
    oauth.login(on_success=events.success, on_logout=events.logout, access_token=f"good-{name()}")
    oauth._tokens = {"access_token": "expired.access.token", "refresh_token": "revoked-refresh-token"}
    with pytest.raises(SessionError) as refused:
        oauth.me()
    assert refused.value.status == 401
    assert not oauth.signed_in and not tokens.exists()
    assert events.logouts == 0, "on_logout waits for process_callbacks"
    oauth.process_callbacks()
    assert events.logouts == 1


def test_logout_ends_the_session_at_the_api(backend: str) -> None:
    events = Events()
    oauth = OAuthManager(backend_url=backend)
    oauth.login(on_success=events.success, on_logout=events.logout, access_token=f"good-{name()}")
    old = dict(oauth._tokens)
    oauth.logout()
    oauth.process_callbacks()
    assert events.logouts == 1 and not oauth.signed_in
    # The old tokens are dead: a manager holding them is logged out at its first call.
    stale = OAuthManager(backend_url=backend)
    stale._tokens = old
    with pytest.raises(SessionError):
        stale.me()
