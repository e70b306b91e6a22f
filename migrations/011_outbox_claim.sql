-- The outbox relay claims a batch in a committed statement before it publishes it (attempts + 1,
-- claimed_by, claimed_until), so a message published by a relay that died before it could mark
-- it sent goes out again with headers.retry_count >= 1. A claim is the relay's until
-- claimed_until (or until its process is seen gone); other relays skip claimed rows.
ALTER TABLE attune_sensor.outbox
  ADD COLUMN claimed_by    text,
  ADD COLUMN claimed_until timestamptz;
