-- attune: outbox relay (issue 8). The relay claims unsent rows with a lease before it
-- publishes them, so several relays (one per daemon) never publish the same row at once,
-- and the rows of a relay that dies mid-batch are claimed again once its lease ends.
ALTER TABLE attune.outbox ADD COLUMN claimed_until timestamptz;

-- Claims update rows in place; free space on each page keeps those updates HOT (no new
-- index entries), which matters at thousands of messages per second.
ALTER TABLE attune.outbox SET (fillfactor = 70);
