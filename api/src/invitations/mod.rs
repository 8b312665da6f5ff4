//! Invitations (seed 003), all admin-only (`x-api-key` or an admin API token): the user list,
//! CSV upload, invitation mails in batches, token checks (web and bot), token re-issue and
//! deletion.
//!
//! Mails are never sent here: `POST /api/send-emails` records one delivery per invitee and
//! pushes one `send_email` job each, in bulk; `GET /api/batches/{id}` shows their progress.
//!
//! # Layout
//! Each file holds one `#[OpenApi]` struct; `lib.rs` lists them in a tuple, in the order the
//! spec lists their paths (poem-openapi orders paths by registration):
//! - `users`: [`users::UsersApi`] (`GET /api/users`) and [`users::UserChangesApi`] (token
//!   re-issue, deletion of one user or all), and the [`users::Role`] API tokens share;
//! - `user_page`: [`user_page::UserPageApi`] (`GET` and `PATCH /api/users/{id}`: one user's
//!   page and what an admin changes there);
//! - `upload`: `POST /api/upload-csv` and the CSV reader;
//! - `batches`: `POST /api/send-emails`, `GET /api/batches`, `GET /api/batches/{id}` and its
//!   mails;
//! - `verify`: `POST /api/verify`, `POST /api/verify-discord`, both through one
//!   `verify_invitation`.

use poem_openapi::Tags;

pub(crate) mod batches;
pub(crate) mod upload;
pub(crate) mod user_page;
pub(crate) mod users;
pub(crate) mod verify;

/// Most rows one upload may have, and most users one `send-emails` call may name.
const MAX_ROWS: usize = 200_000;

#[derive(Debug, Tags)]
enum InvitationTags {
    /// Invitations and verification (seed 003)
    Invitations,
}
