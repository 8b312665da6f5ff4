-- V2: proving an email and linking a Discord account are separate facts (issue 11).
--
-- A Discord link made with credentials anyone can obtain (an onboarding's OAuth state or
-- `/login` code) proves only that the Discord account's owner acted; it says nothing about who
-- receives mail at the user's address. `confirmed_at` is set when the link was made by an act
-- that also proved the email (an invitation or verification token typed from that Discord
-- account, Discord vouching for the same verified email, Google vouching for its own). Only a
-- confirmed link lets its Discord account chat, pass the gate or get the Member role back;
-- an unconfirmed one is replaced by the next link its user or its Discord account makes.
ALTER TABLE identities
    ADD COLUMN confirmed_at TIMESTAMPTZ,
    -- Confirmed by the migration, not by a proof (see below): any later proof of the user's
    -- email, or of the Discord account's owner's own email, replaces such a link.
    ADD COLUMN confirmed_before_v2 BOOLEAN NOT NULL DEFAULT FALSE;

-- Google vouched for the email of every Google identity. Before V2 a Discord link verified its
-- user, so the links of verified users are their members today: keep them confirmed, marked
-- as such, except where the pattern of the attack that V2 closes shows (an invitee verified by
-- a link while their invitation was never used): those stay unconfirmed, and the invitee's
-- token still confirms their own account. The trigger would rewrite updated_at; these rows
-- did not change in any way a reader cares about.
ALTER TABLE identities DISABLE TRIGGER identities_updated_at;
UPDATE identities SET confirmed_at = created_at WHERE provider = 'google';
-- Discord vouched for the user's own address (the rule V2 applies from now on): confirmed.
UPDATE identities i SET confirmed_at = i.created_at
FROM users u
WHERE u.id = i.user_id AND i.provider = 'discord' AND i.email_verified
  AND lower(i.email) = lower(u.email);
UPDATE identities i SET confirmed_at = i.created_at, confirmed_before_v2 = TRUE
FROM users u
WHERE u.id = i.user_id AND i.provider = 'discord' AND u.verified AND i.confirmed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM invitations v WHERE v.user_id = u.id AND v.status <> 'verified');
ALTER TABLE identities ENABLE TRIGGER identities_updated_at;

-- An OAuth state started in a browser is bound to it: the SHA-256 digest of an HttpOnly
-- cookie that only that browser holds (Google's code flow). NULL: not bound.
ALTER TABLE one_time_tokens ADD COLUMN browser_binding BYTEA
    CHECK (browser_binding IS NULL OR length(browser_binding) = 32);

-- The sweep removes onboardings nobody ever proved (no mail answered, no invitation) after a
-- while; it looks for them by age among the unverified.
CREATE INDEX users_unverified_idx ON users (created_at) WHERE NOT verified;
