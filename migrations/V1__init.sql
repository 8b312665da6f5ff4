-- V1: the whole domain of the four seed systems in one schema, so later work adds little.
--
-- Conventions
--   * Ids we mint are BIGINT identities (seed 003/004 expose integer ids); batch and family ids
--     that are handed to clients as opaque references are UUIDs.
--   * Discord snowflakes are BIGINT (they fit below 2^63 for the foreseeable future); provider
--     subjects in general are TEXT because Google's are not numbers.
--   * Every secret we issue (invitation tokens, auth codes, OAuth state, refresh tokens, API
--     tokens) is stored only as its SHA-256 digest (BYTEA, 32 bytes).
--   * Enumerations are TEXT with CHECK constraints: readable in psql, cheap to extend in a
--     later migration, and a constraint violation names the column.
--   * Never edit this file once released; add V2__… instead (see migrations/README.md).

-- Keeps updated_at honest without every query having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- People: web onboarding (seed 001), Google accounts (seed 002), CSV invitees (seed 003) and
-- role-based access (seed 004) are all users. Email is unique regardless of case.
CREATE TABLE users (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                 TEXT        NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    -- Nullable on purpose: seed 004's lesson (OAuth and invited users have no password).
    password_hash         TEXT,
    full_name             TEXT,
    username              TEXT CHECK (length(username) BETWEEN 1 AND 64),
    role                  TEXT        NOT NULL DEFAULT 'personal_only'
                                      CHECK (role IN ('admin', 'personal_only')),
    is_active             BOOLEAN     NOT NULL DEFAULT TRUE,
    -- seed 001's selectedPersonality and communicationChannel
    personality           TEXT,
    communication_channel TEXT CHECK (communication_channel IN ('discord', 'email', 'web')),
    verified              BOOLEAN     NOT NULL DEFAULT FALSE,
    verified_at           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE username IS NOT NULL;
-- GET /api/users pages by (created_at, id) and filters by role / verification.
CREATE INDEX users_created_idx ON users (created_at, id);
CREATE INDEX users_role_idx ON users (role, is_active);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Accounts at OAuth providers linked to a user. (provider, subject) is unique, so one Discord
-- id belongs to at most one user; (user_id, provider) is unique, so a user links one account
-- per provider. Provider tokens are kept encrypted (by the application key) for refreshes.
CREATE TABLE identities (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider             TEXT        NOT NULL CHECK (provider IN ('discord', 'google')),
    -- Google keys identities on issuer + subject; Discord's issuer is https://discord.com
    issuer               TEXT        NOT NULL,
    subject              TEXT        NOT NULL,
    provider_username    TEXT,
    email                TEXT,
    email_verified       BOOLEAN     NOT NULL DEFAULT FALSE,
    access_token_enc     BYTEA,
    refresh_token_enc    BYTEA,
    token_expires_at     TIMESTAMPTZ,
    scopes               TEXT,
    last_login_at        TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, issuer, subject),
    CONSTRAINT identities_user_provider_key UNIQUE (user_id, provider)
);
-- The bot maps a Discord account to a user on every message: one index probe.
CREATE UNIQUE INDEX identities_discord_id_key ON identities (subject) WHERE provider = 'discord';
-- The sweep finds provider tokens about to expire.
CREATE INDEX identities_token_expiry_idx ON identities (token_expires_at)
    WHERE refresh_token_enc IS NOT NULL;
CREATE TRIGGER identities_updated_at BEFORE UPDATE ON identities
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Single-use secrets with a purpose and an expiry, stored hashed:
--   oauth_state         the OAuth `state`, bound to user, provider, redirect URI and PKCE verifier
--   email_verification  the token in a verification mail (POST /api/verify)
--   login_code          the bot's `/login <auth_code>` fallback (seed 001)
--   invitation          the CSV invitee's token, typed into Discord with the email (seed 003)
-- A wrong guess bumps failed_attempts; past a few the token dies.
CREATE TABLE one_time_tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose         TEXT        NOT NULL
                                CHECK (purpose IN ('oauth_state', 'email_verification', 'login_code', 'invitation')),
    token_hash      BYTEA       NOT NULL CHECK (length(token_hash) = 32),
    user_id         BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT,
    redirect_uri    TEXT,
    pkce_verifier   TEXT,
    failed_attempts INTEGER     NOT NULL DEFAULT 0,
    expires_at      TIMESTAMPTZ NOT NULL,
    consumed_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT one_time_tokens_oauth_state_check CHECK (
        purpose <> 'oauth_state'
        OR (provider IS NOT NULL AND redirect_uri IS NOT NULL AND pkce_verifier IS NOT NULL)
    )
);
CREATE UNIQUE INDEX one_time_tokens_hash_key ON one_time_tokens (purpose, token_hash);
-- "the live token of this user for this purpose" (re-issue, refresh-token/{id})
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose) WHERE consumed_at IS NULL;
-- the sweep deletes what expired
CREATE INDEX one_time_tokens_expiry_idx ON one_time_tokens (expires_at);

-- Invitations from CSV uploads (seed 003): one per invitee user, with the current token.
CREATE TABLE invitations (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id          BIGINT      REFERENCES one_time_tokens (id) ON DELETE SET NULL,
    status            TEXT        NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'sent', 'failed', 'verified', 'expired', 'revoked')),
    -- the upload that created or last updated it, and its row number, for per-row reports
    upload_id         UUID,
    upload_row        INTEGER,
    token_expires_at  TIMESTAMPTZ,
    verified_at       TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT invitations_user_key UNIQUE (user_id)
);
CREATE INDEX invitations_status_idx ON invitations (status, id);
CREATE TRIGGER invitations_updated_at BEFORE UPDATE ON invitations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A POST /api/send-emails call: its progress is the state of its deliveries.
CREATE TABLE email_batches (
    id          UUID        PRIMARY KEY,
    requested_by TEXT       NOT NULL,
    total       INTEGER     NOT NULL CHECK (total >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per email we mean to send; the send_email job moves it along. Its latest state is the
-- "delivery status visible on the user".
CREATE TABLE email_deliveries (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    batch_id     UUID        REFERENCES email_batches (id) ON DELETE SET NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('invitation', 'verification', 'link_confirmation')),
    to_address   TEXT        NOT NULL,
    status       TEXT        NOT NULL DEFAULT 'queued'
                             CHECK (status IN ('queued', 'sent', 'retrying', 'failed')),
    job_id       TEXT,
    message_id   TEXT,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_deliveries_user_idx ON email_deliveries (user_id, created_at DESC);
CREATE INDEX email_deliveries_batch_idx ON email_deliveries (batch_id, status);
CREATE TRIGGER email_deliveries_updated_at BEFORE UPDATE ON email_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Refresh tokens rotate inside a family; presenting a token that was already rotated (used_at
-- set) is reuse and revokes the whole family.
CREATE TABLE refresh_token_families (
    id             UUID        PRIMARY KEY,
    user_id        BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revoked_at     TIMESTAMPTZ,
    revoked_reason TEXT CHECK (revoked_reason IN ('logout', 'reuse', 'admin', 'user_disabled')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_token_families_user_idx ON refresh_token_families (user_id);

CREATE TABLE refresh_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id   UUID        NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    token_hash  BYTEA       NOT NULL CHECK (length(token_hash) = 32),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);

-- Admin-created Bearer API tokens (seed 004). The prefix is shown in listings so an admin can
-- tell tokens apart without the secret.
CREATE TABLE api_tokens (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash    BYTEA       NOT NULL CHECK (length(token_hash) = 32),
    token_prefix  TEXT        NOT NULL,
    role          TEXT        NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'personal_only')),
    created_by    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);

-- Per-guild bot settings (seed 003's /set_timeout is stored here, not in memory).
CREATE TABLE guild_settings (
    guild_id                     BIGINT      PRIMARY KEY,
    verification_timeout_seconds INTEGER     CHECK (verification_timeout_seconds > 0),
    member_role_name             TEXT,
    member_role_id               BIGINT,
    log_channel_id               BIGINT,
    fallback_channel_id          BIGINT,
    updated_by                   BIGINT,
    created_at                   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER guild_settings_updated_at BEFORE UPDATE ON guild_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Members who joined a gated guild and must verify before their deadline. Keyed by guild and
-- member, so leaving and rejoining finds the same row and the deadline is not reset.
CREATE TABLE member_verifications (
    guild_id         BIGINT      NOT NULL,
    discord_user_id  BIGINT      NOT NULL,
    user_id          BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    status           TEXT        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'verified', 'kicked')),
    joined_at        TIMESTAMPTZ NOT NULL,
    deadline         TIMESTAMPTZ NOT NULL,
    in_guild         BOOLEAN     NOT NULL DEFAULT TRUE,
    verified_at      TIMESTAMPTZ,
    kicked_at        TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, discord_user_id)
);
-- The sweep and /verification_status look for pending members by deadline.
CREATE INDEX member_verifications_deadline_idx ON member_verifications (deadline)
    WHERE status = 'pending';
CREATE TRIGGER member_verifications_updated_at BEFORE UPDATE ON member_verifications
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Conversation turns for chat replies. The Discord message id makes storing a turn idempotent
-- when a chat_reply job runs twice.
CREATE TABLE chat_messages (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel_id         BIGINT,
    discord_message_id BIGINT,
    role               TEXT        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content            TEXT        NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_history_idx ON chat_messages (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX chat_messages_turn_key ON chat_messages (discord_message_id, role)
    WHERE discord_message_id IS NOT NULL;

-- The idempotency ledger: an effect that must not repeat (an email, a kick, a role grant, a
-- posted message) is recorded here under the job's idempotency key, before or atomically with
-- the effect. The sweep trims old rows.
CREATE TABLE job_effects (
    idempotency_key TEXT        PRIMARY KEY,
    queue           TEXT        NOT NULL,
    job_id          TEXT,
    effect          TEXT        NOT NULL,
    detail          JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX job_effects_created_idx ON job_effects (created_at);

-- Who did what: admin actions, verifications, kicks, token revocations.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    target      TEXT,
    detail      JSONB,
    request_id  TEXT
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_target_idx ON audit_log (target, at);
