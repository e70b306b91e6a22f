-- Event deduplication per trigger (a trigger file's `dedup: {key, window}`).
--
-- attune's settings of a trigger: what Attune's trigger table has no column for. A row goes
-- with its trigger. `dedup_key` is the key as written in the pack file (a field path of the
-- payload, or a template over it); `dedup_window_ms` how long a key is remembered after the
-- first event that had it. Both or neither.
CREATE TABLE attune_sensor.trigger_settings (
  trigger          bigint PRIMARY KEY REFERENCES attune.trigger (id) ON DELETE CASCADE,
  dedup_key        text,
  dedup_window_ms  bigint CHECK (dedup_window_ms IS NULL OR dedup_window_ms > 0),
  updated          timestamptz NOT NULL DEFAULT now(),
  CHECK ((dedup_key IS NULL) = (dedup_window_ms IS NULL))
);

-- One keyed-write mechanism serves idempotent writes (poll and timer retries, the API's
-- Idempotency-Key) and deduplication: a key, the first write's answer, and when the key may
-- be claimed again. `expires` NULL (keys of idempotent writes) means a day after `created`;
-- a dedup key `dedup:<trigger ref>:<key value>` expires when its trigger's window has passed
-- since the first event that had it. An expired key is taken over by the next write that
-- claims it, and pruned by the daemon.
ALTER TABLE attune_sensor.idempotency ADD COLUMN expires timestamptz;
CREATE INDEX idempotency_expires_idx ON attune_sensor.idempotency (expires) WHERE expires IS NOT NULL;
