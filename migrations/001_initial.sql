-- attune: initial schema (SPEC §7). Runs unchanged on PGlite and PostgreSQL 15.
-- Table and column names follow Attune's; wire and database formats are snake_case.
-- The migration runner wraps this file in one transaction and records it in
-- attune.schema_migrations.

CREATE SCHEMA IF NOT EXISTS attune;

-- Keeps `updated` honest for every writer, not only the pack loader.
CREATE OR REPLACE FUNCTION attune.touch_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated := now();
  RETURN NEW;
END;
$$;

CREATE TABLE attune.pack (
  id            bigserial PRIMARY KEY,
  ref           text NOT NULL UNIQUE,
  label         text NOT NULL,
  description   text,
  version       text,
  conf_schema   jsonb,
  config        jsonb,
  meta          jsonb,
  tags          jsonb NOT NULL DEFAULT '[]'::jsonb,
  runtime_deps  jsonb NOT NULL DEFAULT '[]'::jsonb,
  is_standard   boolean NOT NULL DEFAULT false,
  enabled       boolean NOT NULL DEFAULT true,
  -- Folder the pack was registered from (sensor entry points are resolved inside it).
  path          text,
  created       timestamptz NOT NULL DEFAULT now(),
  updated       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE attune.runtime (
  id                bigserial PRIMARY KEY,
  ref               text NOT NULL UNIQUE,
  pack              bigint REFERENCES attune.pack (id) ON DELETE CASCADE,
  pack_ref          text,
  name              text NOT NULL,
  description       text,
  -- 'sensor', 'action', ... ; NULL for pack runtimes that serve both (SPEC §8).
  runtime_type      text,
  aliases           jsonb NOT NULL DEFAULT '[]'::jsonb,
  distributions     jsonb NOT NULL DEFAULT '{}'::jsonb,
  installation      jsonb,
  execution_config  jsonb,
  versions          jsonb,
  created           timestamptz NOT NULL DEFAULT now(),
  updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runtime_pack_idx ON attune.runtime (pack);

CREATE TABLE attune.trigger (
  id            bigserial PRIMARY KEY,
  ref           text NOT NULL UNIQUE,
  pack          bigint REFERENCES attune.pack (id) ON DELETE CASCADE,
  pack_ref      text,
  label         text NOT NULL,
  description   text,
  enabled       boolean NOT NULL DEFAULT true,
  param_schema  jsonb,
  out_schema    jsonb,
  created       timestamptz NOT NULL DEFAULT now(),
  updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trigger_pack_idx ON attune.trigger (pack);

CREATE TABLE attune.sensor (
  id             bigserial PRIMARY KEY,
  ref            text NOT NULL UNIQUE,
  pack           bigint REFERENCES attune.pack (id) ON DELETE CASCADE,
  pack_ref       text,
  label          text NOT NULL,
  description    text,
  entrypoint     text NOT NULL,
  runtime        bigint REFERENCES attune.runtime (id) ON DELETE SET NULL,
  runtime_ref    text NOT NULL,
  -- The first trigger type; all of them are in trigger_types (a sensor may serve several).
  trigger        bigint REFERENCES attune.trigger (id) ON DELETE SET NULL,
  trigger_ref    text NOT NULL,
  trigger_types  jsonb NOT NULL DEFAULT '[]'::jsonb,
  enabled        boolean NOT NULL DEFAULT true,
  param_schema   jsonb,
  config         jsonb,
  -- Seconds between polls; NULL means the daemon's default.
  poll_interval  integer CHECK (poll_interval IS NULL OR poll_interval > 0),
  execution      text NOT NULL DEFAULT 'poll' CHECK (execution IN ('poll', 'persistent', 'long_running')),
  env            jsonb,
  created        timestamptz NOT NULL DEFAULT now(),
  updated        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensor_pack_idx ON attune.sensor (pack);
-- The daemon loads enabled sensors on start and on every reload.
CREATE INDEX sensor_enabled_idx ON attune.sensor (created, id) WHERE enabled;

CREATE TABLE attune.rule (
  id              bigserial PRIMARY KEY,
  ref             text NOT NULL UNIQUE,
  pack            bigint REFERENCES attune.pack (id) ON DELETE CASCADE,
  pack_ref        text,
  label           text NOT NULL,
  description     text,
  -- Actions live in the executor's database: no foreign key here.
  action          bigint,
  action_ref      text NOT NULL,
  trigger         bigint REFERENCES attune.trigger (id) ON DELETE SET NULL,
  trigger_ref     text NOT NULL,
  conditions      jsonb NOT NULL DEFAULT '[]'::jsonb,
  action_params   jsonb NOT NULL DEFAULT '{}'::jsonb,
  trigger_params  jsonb NOT NULL DEFAULT '{}'::jsonb,
  enabled         boolean NOT NULL DEFAULT true,
  created         timestamptz NOT NULL DEFAULT now(),
  updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rule_pack_idx ON attune.rule (pack);
-- Rule matching: the enabled rules of one trigger, for every event.
CREATE INDEX rule_trigger_ref_enabled_idx ON attune.rule (trigger_ref) WHERE enabled;

CREATE TABLE attune.event (
  id           bigserial PRIMARY KEY,
  trigger      bigint REFERENCES attune.trigger (id) ON DELETE SET NULL,
  trigger_ref  text NOT NULL,
  config       jsonb,
  payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- The sensor that produced the event (NULL for system events).
  source       bigint REFERENCES attune.sensor (id) ON DELETE SET NULL,
  source_ref   text,
  created      timestamptz NOT NULL DEFAULT now(),
  updated      timestamptz NOT NULL DEFAULT now()
);
-- `event list --trigger REF --since D` and retention both walk by time.
CREATE INDEX event_trigger_ref_created_idx ON attune.event (trigger_ref, created DESC);
CREATE INDEX event_created_idx ON attune.event (created DESC);

CREATE TABLE attune.enforcement (
  id           bigserial PRIMARY KEY,
  rule         bigint REFERENCES attune.rule (id) ON DELETE SET NULL,
  rule_ref     text NOT NULL,
  trigger_ref  text NOT NULL,
  event        bigint REFERENCES attune.event (id) ON DELETE CASCADE,
  status       text NOT NULL DEFAULT 'created',
  payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
  condition    text NOT NULL DEFAULT 'all' CHECK (condition IN ('all', 'any')),
  conditions   jsonb NOT NULL DEFAULT '[]'::jsonb,
  created      timestamptz NOT NULL DEFAULT now(),
  updated      timestamptz NOT NULL DEFAULT now(),
  -- At-least-once delivery may replay an event: one enforcement per rule and event.
  CONSTRAINT enforcement_rule_event_key UNIQUE (rule, event)
);
CREATE INDEX enforcement_event_idx ON attune.enforcement (event);
CREATE INDEX enforcement_rule_ref_created_idx ON attune.enforcement (rule_ref, created DESC);

CREATE TABLE attune.worker (
  id              bigserial PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  worker_role     text NOT NULL,
  capabilities    jsonb NOT NULL DEFAULT '{}'::jsonb,
  status          text NOT NULL DEFAULT 'active',
  last_heartbeat  timestamptz,
  meta            jsonb,
  created         timestamptz NOT NULL DEFAULT now(),
  updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_role_idx ON attune.worker (worker_role);

CREATE TABLE attune.identity (
  id            bigserial PRIMARY KEY,
  login         text NOT NULL UNIQUE,
  display_name  text,
  attributes    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created       timestamptz NOT NULL DEFAULT now(),
  updated       timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox (SPEC §7): rows commit with the event/enforcement they announce;
-- the relay publishes them with confirms and sets sent_at.
CREATE TABLE attune.outbox (
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
CREATE INDEX outbox_unsent_idx ON attune.outbox (id) WHERE sent_at IS NULL;

CREATE TRIGGER pack_touch_updated BEFORE UPDATE ON attune.pack
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER runtime_touch_updated BEFORE UPDATE ON attune.runtime
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER trigger_touch_updated BEFORE UPDATE ON attune.trigger
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER sensor_touch_updated BEFORE UPDATE ON attune.sensor
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER rule_touch_updated BEFORE UPDATE ON attune.rule
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER event_touch_updated BEFORE UPDATE ON attune.event
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER enforcement_touch_updated BEFORE UPDATE ON attune.enforcement
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER worker_touch_updated BEFORE UPDATE ON attune.worker
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER identity_touch_updated BEFORE UPDATE ON attune.identity
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
CREATE TRIGGER outbox_touch_updated BEFORE UPDATE ON attune.outbox
  FOR EACH ROW EXECUTE FUNCTION attune.touch_updated();
