//! Sign-in and sessions (seed 002): Google sign-in (an access token the client holds, or an
//! authorization code with PKCE), our access JWT plus an opaque refresh token, rotation with
//! reuse detection, logout, the profile and its username.
//!
//! Google is called by the `exchange_oauth_code` job; the request waits for it (bounded). When
//! the job outlives the wait the answer is 202 with the job id. Repeating a code sign-in joins
//! its job instead of starting another, and hands that job's tokens out once only (a replayed
//! code gets nothing); an access-token sign-in is simply checked again.
//!
//! # Layout
//! One `#[OpenApi]` struct a file, listed in `lib.rs` in the spec's path order:
//! - `google`: `POST /api/login` (and the tokens it issues), `POST /api/login/google`;
//! - `refresh`: `POST /api/refresh` (rotation with reuse detection), `POST /api/logout`;
//! - `profile`: `POST /api/update_username`, `GET /api/me`, and [`profile::UserInfo`], the
//!   signed-in user as every answer shows it.

use poem_openapi::Tags;

pub(crate) mod google;
pub(crate) mod profile;
pub(crate) mod refresh;

#[derive(Debug, Tags)]
enum SessionTags {
    /// Google sign-in and sessions (seed 002)
    Sessions,
}
