-- V4: indexes for what the admin console reads (issue 16).
--
-- The audit log is listed newest first by id, filtered by actor, action or target exactly,
-- and a user's page reads their trail (target `user:<id>`). Without these, a filter matching
-- few rows walks the whole log backwards; the log grows with every sign-in and refresh.
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor, id);
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);
CREATE INDEX audit_log_target_id_idx ON audit_log (target, id);
-- A batch's mails are paged in id order: without this, each page reads and sorts the batch.
CREATE INDEX email_deliveries_batch_id_idx ON email_deliveries (batch_id, id);
