-- attune's own tables, in their own schema: what Attune has no column for. Every row is keyed
-- by Attune's ids and goes when the Attune row it belongs to goes. Nothing here changes a
-- table of schema attune.

CREATE SCHEMA IF NOT EXISTS attune_sensor;

-- How attune runs a sensor. A sensor without a row here (registered by Attune's API or pack
-- loader) is a long-running process, as Attune runs every sensor.
CREATE TABLE attune_sensor.sensor_settings (
  sensor         bigint PRIMARY KEY REFERENCES attune.sensor (id) ON DELETE CASCADE,
  -- Seconds between polls; NULL means the daemon's default.
  poll_interval  integer CHECK (poll_interval IS NULL OR poll_interval > 0),
  execution      text NOT NULL DEFAULT 'poll' CHECK (execution IN ('poll', 'persistent', 'long_running')),
  env            jsonb,
  -- The trigger types in the order the sensor file lists them (the first is its default
  -- trigger). Which sensor serves a trigger is Attune's trigger.sensor.
  trigger_types  text[] NOT NULL DEFAULT '{}',
  updated        timestamptz NOT NULL DEFAULT now()
);

-- What the daemon knows about each sensor it runs, for `attune sensor status`, /healthz and
-- scale-out, and the timer state that must survive restarts and moves.
CREATE TABLE attune_sensor.sensor_state (
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
CREATE INDEX sensor_state_owner_idx ON attune_sensor.sensor_state (owner);
CREATE INDEX sensor_state_lease_idx ON attune_sensor.sensor_state (lease_expires);

CREATE TABLE attune_sensor.timer_state (
  rule               bigint PRIMARY KEY REFERENCES attune.rule (id) ON DELETE CASCADE,
  rule_ref           text NOT NULL,
  last_scheduled_at  timestamptz NOT NULL,
  execution_count    bigint NOT NULL DEFAULT 0,
  updated            timestamptz NOT NULL DEFAULT now()
);

-- Scale-out: which daemon polls which sensor. A lease is renewed with the daemon's ticks; a
-- daemon that dies stops renewing and its sensors are claimed by the others once it expires.
CREATE TABLE attune_sensor.sensor_lease (
  sensor    bigint PRIMARY KEY REFERENCES attune.sensor (id) ON DELETE CASCADE,
  owner     text NOT NULL,
  expires   timestamptz NOT NULL,
  acquired  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensor_lease_owner_idx ON attune_sensor.sensor_lease (owner);
CREATE INDEX sensor_lease_expires_idx ON attune_sensor.sensor_lease (expires);

-- Transactional outbox (SPEC §7): rows commit with the event/enforcement they announce;
-- the relay publishes them with confirms and sets sent_at.
CREATE TABLE attune_sensor.outbox (
  id           bigserial PRIMARY KEY,
  exchange     text NOT NULL,
  routing_key  text NOT NULL,
  message_id   text NOT NULL UNIQUE,
  message      jsonb NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text,
  sent_at      timestamptz,
  created      timestamptz NOT NULL DEFAULT now(),
  updated      timestamptz NOT NULL DEFAULT now()
);
-- The relay reads unsent rows in id order; sent rows drop out of the index.
CREATE INDEX outbox_unsent_idx ON attune_sensor.outbox (id) WHERE sent_at IS NULL;
