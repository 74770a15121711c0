-- 005_auth_indexes.sql - drop two indexes of 002_auth that no query uses.
--
-- Every report reads message_auth per message, through its primary key
-- (message_id, position). message_auth_method even misled the planner:
-- the auth report's "has a passing DKIM signature" subquery walked every
-- dkim=pass row of the table for each message instead of the message's
-- own few rows. Each index also cost the ledger writer a random-page
-- write per result (bench/README.md, "Performance work"). A report that
-- needs to search by identity gets an index made for it, then.

DROP INDEX IF EXISTS message_auth_method;
DROP INDEX IF EXISTS message_auth_identity;
