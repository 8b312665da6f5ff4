-- V3: every foreign key gets an index that leads with its column (issue 14).
--
-- Deleting or re-keying a referenced row makes Postgres find the referencing rows; without
-- such an index that is a scan of the whole referencing table per deleted row. Measured: the
-- cascade from deleting 150,000 onboarded users read one_time_tokens 150,000 times, 6.4
-- billion tuples, and held a core for minutes (one_time_tokens_user_idx is partial, for live
-- tokens, so it cannot serve the cascade). A test checks no foreign key is left without one.
CREATE INDEX one_time_tokens_user_fk_idx ON one_time_tokens (user_id);
CREATE INDEX invitations_token_fk_idx ON invitations (token_id);
CREATE INDEX api_tokens_created_by_fk_idx ON api_tokens (created_by);
CREATE INDEX member_verifications_user_fk_idx ON member_verifications (user_id);
