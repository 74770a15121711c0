-- 009_auth_results_index.sql - the results of a message by method,
-- without a visit to the table.
--
-- report messages --spf/--dkim/--dmarc RESULT asks each message of its
-- range whether it has a result row of that method and word. Through
-- the primary key (message_id, position) each question read the index
-- and then every row of the message from the table; this index answers
-- it alone (a covering index: message, method, result without case, as
-- the filter compares). On 1,000,000 messages a filter that matches
-- none (and so walks every message) took 0.84 s and takes 0.36 s
-- (bench/README.md, "One index for the result filters").
--
-- Unlike the indexes 005_auth_indexes.sql dropped, it starts with the
-- message: the planner cannot take it to walk every row of one result
-- for each message, and the writer's rows (new messages, growing ids)
-- go at its end rather than to a random page.

CREATE INDEX message_auth_results ON message_auth (message_id, method, result COLLATE NOCASE);
