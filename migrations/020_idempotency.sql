-- Writes that may be retried after an unknown outcome (a poll's events when the database did
-- not answer the COMMIT, a timer fire, an API request with an Idempotency-Key) record their key
-- in the transaction that stores them: a retry of a committed write finds its key and gets the
-- first answer back instead of storing a second copy. Keys are kept for a day.
CREATE TABLE attune_sensor.idempotency (
  key      text PRIMARY KEY,
  result   jsonb NOT NULL,
  created  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_created_idx ON attune_sensor.idempotency (created);
