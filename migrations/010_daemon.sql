-- What the daemon knows about each sensor it runs, for `attune sensor status`, /healthz and
-- scale-out (owner and lease), and the timer state that must survive restarts and moves.
CREATE TABLE attune.sensor_state (
  sensor                bigint PRIMARY KEY REFERENCES attune.sensor (id) ON DELETE CASCADE,
  sensor_ref            text NOT NULL,
  owner                 text,
  state                 text NOT NULL DEFAULT 'idle',
  consecutive_failures  integer NOT NULL DEFAULT 0,
  polls                 bigint NOT NULL DEFAULT 0,
  failures              bigint NOT NULL DEFAULT 0,
  events                bigint NOT NULL DEFAULT 0,
  last_poll             timestamptz,
  last_duration_ms      integer,
  last_error            text,
  next_poll             timestamptz,
  lease_expires         timestamptz,
  updated               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensor_state_owner_idx ON attune.sensor_state (owner);
CREATE INDEX sensor_state_lease_idx ON attune.sensor_state (lease_expires);

CREATE TABLE attune.timer_state (
  rule               bigint PRIMARY KEY REFERENCES attune.rule (id) ON DELETE CASCADE,
  rule_ref           text NOT NULL,
  last_scheduled_at  timestamptz NOT NULL,
  execution_count    bigint NOT NULL DEFAULT 0,
  updated            timestamptz NOT NULL DEFAULT now()
);
