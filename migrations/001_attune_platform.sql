-- The tables of the Attune platform that the sensor side reads or writes, defined exactly as
-- an Attune deployment defines them (columns in order, types, NOT NULLs, defaults, checks,
-- indexes), so that attune and Attune's API, executor and web UI share one database.
-- On a database where Attune's own migrations ran, `attune db migrate` does NOT run this
-- file: it checks the columns attune needs and adopts the tables as they are.
-- Differences from a deployment (docs/attune.md): no TimescaleDB (event is a plain table
-- with Attune's primary key (id, created)); action.workflow_def has no foreign key (the
-- workflow tables are Attune's executor's business); no LISTEN/NOTIFY or history triggers.

CREATE SCHEMA IF NOT EXISTS attune;
SET LOCAL search_path TO attune, public;

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "pgcrypto" SCHEMA public;

CREATE TYPE worker_type_enum AS ENUM ('local', 'remote', 'container');
CREATE TYPE worker_role_enum AS ENUM ('action', 'sensor');
CREATE TYPE worker_status_enum AS ENUM ('active', 'inactive', 'busy', 'error');
CREATE TYPE sensor_process_status_enum AS ENUM ('starting', 'running', 'stopped', 'failed', 'backoff');
CREATE TYPE enforcement_status_enum AS ENUM ('created', 'processed', 'disabled');
CREATE TYPE enforcement_condition_enum AS ENUM ('any', 'all');
CREATE TYPE artifact_retention_enum AS ENUM ('versions', 'days', 'hours', 'minutes');

CREATE FUNCTION update_updated_column() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated = NOW();
  RETURN NEW;
END;
$$;

-- Attune's webhook keys: 'wh_' and 32 hex digits.
CREATE FUNCTION generate_webhook_key() RETURNS varchar(64) LANGUAGE plpgsql AS $$
BEGIN
  RETURN 'wh_' || encode(gen_random_bytes(16), 'hex');
END;
$$;

CREATE TABLE identity (
  id            BIGSERIAL PRIMARY KEY,
  login         TEXT NOT NULL UNIQUE,
  display_name  TEXT,
  password_hash TEXT,
  attributes    JSONB NOT NULL DEFAULT '{}'::jsonb,
  created       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated       TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  frozen        BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX idx_identity_login ON identity (login);
CREATE INDEX idx_identity_created ON identity (created DESC);
CREATE INDEX idx_identity_password_hash ON identity (password_hash) WHERE password_hash IS NOT NULL;
CREATE INDEX idx_identity_attributes_gin ON identity USING GIN (attributes);
CREATE UNIQUE INDEX uq_identity_oidc_issuer_sub ON identity ((attributes->'oidc'->>'issuer'), (attributes->'oidc'->>'sub')) WHERE attributes ? 'oidc';
CREATE INDEX idx_identity_frozen ON identity (frozen);
CREATE TRIGGER update_identity_updated BEFORE UPDATE ON identity FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE pack (
  id                  BIGSERIAL PRIMARY KEY,
  ref                 TEXT NOT NULL UNIQUE,
  label               TEXT NOT NULL,
  description         TEXT,
  version             TEXT NOT NULL,
  conf_schema         JSONB NOT NULL DEFAULT '{}'::jsonb,
  config              JSONB NOT NULL DEFAULT '{}'::jsonb,
  meta                JSONB NOT NULL DEFAULT '{}'::jsonb,
  tags                TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
  runtime_deps        TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
  dependencies        TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
  is_standard         BOOLEAN NOT NULL DEFAULT FALSE,
  installers          JSONB DEFAULT '[]'::jsonb,
  source_type         TEXT,
  source_url          TEXT,
  source_ref          TEXT,
  checksum            TEXT,
  checksum_verified   BOOLEAN DEFAULT FALSE,
  installed_at        TIMESTAMPTZ,
  installed_by        BIGINT,
  installation_method TEXT,
  storage_path        TEXT,
  created             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT pack_ref_lowercase CHECK (ref = LOWER(ref)),
  CONSTRAINT pack_ref_format CHECK (ref ~ '^[a-z][a-z0-9_-]+$'),
  CONSTRAINT pack_version_semver CHECK (version ~ '^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'),
  CONSTRAINT fk_pack_installed_by FOREIGN KEY (installed_by) REFERENCES identity (id) ON DELETE SET NULL
);
CREATE INDEX idx_pack_ref ON pack (ref);
CREATE INDEX idx_pack_created ON pack (created DESC);
CREATE INDEX idx_pack_is_standard ON pack (is_standard) WHERE is_standard = TRUE;
CREATE INDEX idx_pack_is_standard_created ON pack (is_standard, created DESC);
CREATE INDEX idx_pack_version_created ON pack (version, created DESC);
CREATE INDEX idx_pack_config_gin ON pack USING GIN (config);
CREATE INDEX idx_pack_meta_gin ON pack USING GIN (meta);
CREATE INDEX idx_pack_tags_gin ON pack USING GIN (tags);
CREATE INDEX idx_pack_runtime_deps_gin ON pack USING GIN (runtime_deps);
CREATE INDEX idx_pack_dependencies_gin ON pack USING GIN (dependencies);
CREATE INDEX idx_pack_installed_at ON pack (installed_at DESC) WHERE installed_at IS NOT NULL;
CREATE INDEX idx_pack_installed_by ON pack (installed_by) WHERE installed_by IS NOT NULL;
CREATE INDEX idx_pack_source_type ON pack (source_type) WHERE source_type IS NOT NULL;
CREATE TRIGGER update_pack_updated BEFORE UPDATE ON pack FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE runtime (
  id               BIGSERIAL PRIMARY KEY,
  ref              TEXT NOT NULL UNIQUE,
  pack             BIGINT REFERENCES pack (id) ON DELETE CASCADE,
  pack_ref         TEXT,
  description      TEXT,
  name             TEXT NOT NULL,
  aliases          TEXT[] NOT NULL DEFAULT '{}'::text[],
  distributions    JSONB NOT NULL,
  installation     JSONB,
  installers       JSONB DEFAULT '[]'::jsonb,
  execution_config JSONB NOT NULL DEFAULT '{}'::jsonb,
  auto_detected    BOOLEAN NOT NULL DEFAULT FALSE,
  detection_config JSONB NOT NULL DEFAULT '{}'::jsonb,
  created          TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated          TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT runtime_ref_lowercase CHECK (ref = LOWER(ref))
);
CREATE INDEX idx_runtime_ref ON runtime (ref);
CREATE INDEX idx_runtime_pack ON runtime (pack);
CREATE INDEX idx_runtime_created ON runtime (created DESC);
CREATE INDEX idx_runtime_name ON runtime (name);
CREATE INDEX idx_runtime_verification ON runtime USING GIN ((distributions->'verification'));
CREATE INDEX idx_runtime_execution_config ON runtime USING GIN (execution_config);
CREATE INDEX idx_runtime_auto_detected ON runtime (auto_detected);
CREATE INDEX idx_runtime_detection_config ON runtime USING GIN (detection_config);
CREATE INDEX idx_runtime_aliases ON runtime USING GIN (aliases);
CREATE TRIGGER update_runtime_updated BEFORE UPDATE ON runtime FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE trigger (
  id              BIGSERIAL PRIMARY KEY,
  ref             TEXT NOT NULL UNIQUE,
  pack            BIGINT REFERENCES pack (id) ON DELETE CASCADE,
  pack_ref        TEXT,
  label           TEXT NOT NULL,
  description     TEXT,
  enabled         BOOLEAN NOT NULL DEFAULT TRUE,
  is_adhoc        BOOLEAN DEFAULT false NOT NULL,
  param_schema    JSONB,
  out_schema      JSONB,
  webhook_enabled BOOLEAN NOT NULL DEFAULT FALSE,
  webhook_key     VARCHAR(64) UNIQUE,
  webhook_config  JSONB DEFAULT '{}'::jsonb,
  sensor          BIGINT,
  sensor_ref      TEXT,
  created         TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated         TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT trigger_ref_lowercase CHECK (ref = LOWER(ref)),
  CONSTRAINT trigger_ref_format CHECK (ref ~ '^[^.]+\.[^.]+$')
);
CREATE INDEX idx_trigger_ref ON trigger (ref);
CREATE INDEX idx_trigger_pack ON trigger (pack);
CREATE INDEX idx_trigger_enabled ON trigger (enabled) WHERE enabled = TRUE;
CREATE INDEX idx_trigger_created ON trigger (created DESC);
CREATE INDEX idx_trigger_pack_enabled ON trigger (pack, enabled);
CREATE INDEX idx_trigger_webhook_key ON trigger (webhook_key) WHERE webhook_key IS NOT NULL;
CREATE INDEX idx_trigger_enabled_created ON trigger (enabled, created DESC) WHERE enabled = TRUE;
CREATE INDEX idx_trigger_sensor ON trigger (sensor) WHERE sensor IS NOT NULL;
CREATE TRIGGER update_trigger_updated BEFORE UPDATE ON trigger FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE webhook_event_log (
  id                 BIGSERIAL PRIMARY KEY,
  trigger_id         BIGINT NOT NULL REFERENCES trigger (id) ON DELETE CASCADE,
  trigger_ref        TEXT NOT NULL,
  webhook_key        VARCHAR(64) NOT NULL,
  event_id           BIGINT,
  source_ip          TEXT,
  user_agent         TEXT,
  payload_size_bytes INTEGER,
  headers            JSONB,
  status_code        INTEGER NOT NULL,
  error_message      TEXT,
  processing_time_ms INTEGER,
  hmac_verified      BOOLEAN,
  rate_limited       BOOLEAN NOT NULL DEFAULT FALSE,
  ip_allowed         BOOLEAN,
  created            TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_webhook_event_log_trigger_created ON webhook_event_log (trigger_id, created DESC);
CREATE INDEX idx_webhook_event_log_key_created ON webhook_event_log (webhook_key, created DESC);
CREATE INDEX idx_webhook_event_log_rate_limit ON webhook_event_log (trigger_id, webhook_key, source_ip, created DESC) WHERE rate_limited = FALSE;

CREATE TABLE sensor (
  id                         BIGSERIAL PRIMARY KEY,
  ref                        TEXT NOT NULL UNIQUE,
  pack                       BIGINT REFERENCES pack (id) ON DELETE CASCADE,
  pack_ref                   TEXT,
  label                      TEXT NOT NULL,
  description                TEXT,
  entrypoint                 TEXT NOT NULL,
  runtime                    BIGINT NOT NULL REFERENCES runtime (id) ON DELETE CASCADE,
  runtime_ref                TEXT NOT NULL,
  enabled                    BOOLEAN NOT NULL,
  is_adhoc                   BOOLEAN NOT NULL DEFAULT FALSE,
  param_schema               JSONB,
  config                     JSONB,
  runtime_version_constraint TEXT,
  worker_selector            JSONB NOT NULL DEFAULT '{}'::jsonb,
  worker_tolerations         JSONB NOT NULL DEFAULT '[]'::jsonb,
  worker_affinity            JSONB NOT NULL DEFAULT '{}'::jsonb,
  log_retention_policy       artifact_retention_enum,
  log_retention_limit        INTEGER,
  artifact_retention_policy  artifact_retention_enum,
  artifact_retention_limit   INTEGER,
  created                    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated                    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT sensor_ref_lowercase CHECK (ref = LOWER(ref)),
  CONSTRAINT sensor_ref_format CHECK (ref ~ '^[^.]+\.[^.]+$'),
  CONSTRAINT sensor_log_retention_limit_positive CHECK (log_retention_limit IS NULL OR log_retention_limit > 0),
  CONSTRAINT sensor_artifact_retention_limit_positive CHECK (artifact_retention_limit IS NULL OR artifact_retention_limit > 0)
);
CREATE INDEX idx_sensor_ref ON sensor (ref);
CREATE INDEX idx_sensor_pack ON sensor (pack);
CREATE INDEX idx_sensor_runtime ON sensor (runtime);
CREATE INDEX idx_sensor_enabled ON sensor (enabled) WHERE enabled = TRUE;
CREATE INDEX idx_sensor_is_adhoc ON sensor (is_adhoc) WHERE is_adhoc = true;
CREATE INDEX idx_sensor_created ON sensor (created DESC);
CREATE INDEX idx_sensor_worker_selector_gin ON sensor USING GIN (worker_selector);
CREATE INDEX idx_sensor_worker_tolerations_gin ON sensor USING GIN (worker_tolerations);
CREATE INDEX idx_sensor_worker_affinity_gin ON sensor USING GIN (worker_affinity);
ALTER TABLE trigger ADD CONSTRAINT trigger_sensor_fk FOREIGN KEY (sensor) REFERENCES sensor (id) ON DELETE SET NULL;
CREATE TRIGGER update_sensor_updated BEFORE UPDATE ON sensor FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE event (
  id          BIGSERIAL,
  trigger     BIGINT REFERENCES trigger (id) ON DELETE SET NULL,
  trigger_ref TEXT NOT NULL,
  config      JSONB,
  payload     JSONB,
  source      BIGINT REFERENCES sensor (id) ON DELETE SET NULL,
  source_ref  TEXT,
  created     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  rule        BIGINT,
  rule_ref    TEXT,
  PRIMARY KEY (id, created)
);
CREATE INDEX idx_event_trigger ON event (trigger);
CREATE INDEX idx_event_trigger_ref ON event (trigger_ref);
CREATE INDEX idx_event_source ON event (source);
CREATE INDEX idx_event_created ON event (created DESC);
CREATE INDEX idx_event_trigger_created ON event (trigger, created DESC);
CREATE INDEX idx_event_trigger_ref_created ON event (trigger_ref, created DESC);
CREATE INDEX idx_event_source_created ON event (source, created DESC);
CREATE INDEX idx_event_payload_gin ON event USING GIN (payload);

CREATE TABLE enforcement (
  id          BIGSERIAL PRIMARY KEY,
  rule        BIGINT,
  rule_ref    TEXT NOT NULL,
  trigger_ref TEXT NOT NULL,
  config      JSONB,
  event       BIGINT,
  status      enforcement_status_enum NOT NULL DEFAULT 'created',
  payload     JSONB NOT NULL,
  condition   enforcement_condition_enum NOT NULL DEFAULT 'all',
  conditions  JSONB NOT NULL DEFAULT '[]'::jsonb,
  created     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  resolved_at TIMESTAMPTZ,
  CONSTRAINT enforcement_condition_check CHECK (condition IN ('any', 'all'))
);
CREATE INDEX idx_enforcement_rule ON enforcement (rule);
CREATE INDEX idx_enforcement_rule_ref ON enforcement (rule_ref);
CREATE INDEX idx_enforcement_trigger_ref ON enforcement (trigger_ref);
CREATE INDEX idx_enforcement_event ON enforcement (event);
CREATE INDEX idx_enforcement_status ON enforcement (status);
CREATE INDEX idx_enforcement_created ON enforcement (created DESC);
CREATE INDEX idx_enforcement_status_created ON enforcement (status, created DESC);
CREATE INDEX idx_enforcement_rule_status ON enforcement (rule, status);
CREATE INDEX idx_enforcement_event_status ON enforcement (event, status);
CREATE INDEX idx_enforcement_payload_gin ON enforcement USING GIN (payload);
CREATE INDEX idx_enforcement_conditions_gin ON enforcement USING GIN (conditions);
CREATE UNIQUE INDEX uq_enforcement_rule_event ON enforcement (rule, event) WHERE rule IS NOT NULL AND event IS NOT NULL;

CREATE TABLE action (
  id                                    BIGSERIAL PRIMARY KEY,
  ref                                   TEXT NOT NULL UNIQUE,
  pack                                  BIGINT NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
  pack_ref                              TEXT NOT NULL,
  label                                 TEXT NOT NULL,
  description                           TEXT,
  entrypoint                            TEXT NOT NULL,
  runtime                               BIGINT REFERENCES runtime (id),
  param_schema                          JSONB,
  out_schema                            JSONB,
  parameter_delivery                    TEXT NOT NULL DEFAULT 'stdin' CHECK (parameter_delivery IN ('stdin', 'file')),
  parameter_format                      TEXT NOT NULL DEFAULT 'json' CHECK (parameter_format IN ('dotenv', 'json', 'yaml')),
  output_format                         TEXT NOT NULL DEFAULT 'text' CHECK (output_format IN ('text', 'json', 'yaml', 'jsonl')),
  is_adhoc                              BOOLEAN NOT NULL DEFAULT FALSE,
  timeout_seconds                       INTEGER,
  max_retries                           INTEGER DEFAULT 0,
  runtime_version_constraint            TEXT,
  accesses_mcp                          BOOLEAN NOT NULL DEFAULT FALSE,
  default_execution_permission_set_refs TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
  log_retention_policy                  artifact_retention_enum,
  log_retention_limit                   INTEGER,
  artifact_retention_policy             artifact_retention_enum,
  artifact_retention_limit              INTEGER,
  created                               TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated                               TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  workflow_def                          BIGINT,
  required_worker_runtimes              JSONB NOT NULL DEFAULT '{}'::jsonb,
  worker_selector                       JSONB NOT NULL DEFAULT '{}'::jsonb,
  worker_tolerations                    JSONB NOT NULL DEFAULT '[]'::jsonb,
  worker_affinity                       JSONB NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT action_ref_lowercase CHECK (ref = LOWER(ref)),
  CONSTRAINT action_ref_format CHECK (ref ~ '^[^.]+\.[^.]+$'),
  CONSTRAINT action_log_retention_limit_positive CHECK (log_retention_limit IS NULL OR log_retention_limit > 0),
  CONSTRAINT action_artifact_retention_limit_positive CHECK (artifact_retention_limit IS NULL OR artifact_retention_limit > 0)
);
CREATE INDEX idx_action_ref ON action (ref);
CREATE INDEX idx_action_pack ON action (pack);
CREATE INDEX idx_action_runtime ON action (runtime);
CREATE INDEX idx_action_parameter_delivery ON action (parameter_delivery);
CREATE INDEX idx_action_parameter_format ON action (parameter_format);
CREATE INDEX idx_action_output_format ON action (output_format);
CREATE INDEX idx_action_is_adhoc ON action (is_adhoc) WHERE is_adhoc = true;
CREATE INDEX idx_action_accesses_mcp ON action (accesses_mcp) WHERE accesses_mcp = true;
CREATE INDEX idx_action_default_execution_permission_set_refs ON action USING GIN (default_execution_permission_set_refs);
CREATE INDEX idx_action_created ON action (created DESC);
CREATE INDEX idx_action_workflow_def ON action (workflow_def);
CREATE TRIGGER update_action_updated BEFORE UPDATE ON action FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE rule (
  id                  BIGSERIAL PRIMARY KEY,
  ref                 TEXT NOT NULL UNIQUE,
  pack                BIGINT NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
  pack_ref            TEXT NOT NULL,
  label               TEXT NOT NULL,
  description         TEXT,
  action              BIGINT REFERENCES action (id) ON DELETE SET NULL,
  action_ref          TEXT NOT NULL,
  trigger             BIGINT REFERENCES trigger (id) ON DELETE SET NULL,
  trigger_ref         TEXT NOT NULL,
  conditions          JSONB NOT NULL DEFAULT '[]'::jsonb,
  action_params       JSONB DEFAULT '{}'::jsonb,
  trigger_params      JSONB DEFAULT '{}'::jsonb,
  permission_set_refs TEXT[],
  enabled             BOOLEAN NOT NULL,
  is_adhoc            BOOLEAN NOT NULL DEFAULT FALSE,
  owner_identity      BIGINT REFERENCES identity (id) ON DELETE SET NULL,
  created             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated             TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT rule_ref_lowercase CHECK (ref = LOWER(ref)),
  CONSTRAINT rule_ref_format CHECK (ref ~ '^[^.]+\.[^.]+$')
);
CREATE INDEX idx_rule_ref ON rule (ref);
CREATE INDEX idx_rule_pack ON rule (pack);
CREATE INDEX idx_rule_action ON rule (action);
CREATE INDEX idx_rule_trigger ON rule (trigger);
CREATE INDEX idx_rule_enabled ON rule (enabled) WHERE enabled = TRUE;
CREATE INDEX idx_rule_is_adhoc ON rule (is_adhoc) WHERE is_adhoc = true;
CREATE INDEX idx_rule_created ON rule (created DESC);
CREATE INDEX idx_rule_trigger_enabled ON rule (trigger, enabled);
CREATE INDEX idx_rule_action_enabled ON rule (action, enabled);
CREATE INDEX idx_rule_pack_enabled ON rule (pack, enabled);
CREATE INDEX idx_rule_action_params_gin ON rule USING GIN (action_params);
CREATE INDEX idx_rule_trigger_params_gin ON rule USING GIN (trigger_params);
CREATE INDEX idx_rule_permission_set_refs ON rule USING GIN (permission_set_refs) WHERE permission_set_refs IS NOT NULL;
CREATE INDEX idx_rule_owner_identity ON rule (owner_identity);
CREATE TRIGGER update_rule_updated BEFORE UPDATE ON rule FOR EACH ROW EXECUTE FUNCTION update_updated_column();
ALTER TABLE enforcement ADD CONSTRAINT enforcement_rule_fkey FOREIGN KEY (rule) REFERENCES rule (id) ON DELETE SET NULL;
ALTER TABLE event ADD CONSTRAINT event_rule_fkey FOREIGN KEY (rule) REFERENCES rule (id) ON DELETE SET NULL;

CREATE TABLE worker (
  id             BIGSERIAL PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE,
  worker_type    worker_type_enum NOT NULL,
  worker_role    worker_role_enum NOT NULL,
  runtime        BIGINT REFERENCES runtime (id) ON DELETE SET NULL,
  host           TEXT,
  port           INTEGER,
  status         worker_status_enum NOT NULL DEFAULT 'active',
  capabilities   JSONB,
  meta           JSONB,
  last_heartbeat TIMESTAMPTZ,
  cordoned       BOOLEAN NOT NULL DEFAULT FALSE,
  cordon_reason  TEXT,
  cordoned_by    BIGINT REFERENCES identity (id) ON DELETE SET NULL,
  cordoned_at    TIMESTAMPTZ,
  created        TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated        TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_worker_name ON worker (name);
CREATE INDEX idx_worker_type ON worker (worker_type);
CREATE INDEX idx_worker_role ON worker (worker_role);
CREATE INDEX idx_worker_runtime ON worker (runtime);
CREATE INDEX idx_worker_status ON worker (status);
CREATE INDEX idx_worker_last_heartbeat ON worker (last_heartbeat DESC) WHERE last_heartbeat IS NOT NULL;
CREATE INDEX idx_worker_created ON worker (created DESC);
CREATE INDEX idx_worker_status_role ON worker (status, worker_role);
CREATE INDEX idx_worker_capabilities_gin ON worker USING GIN (capabilities);
CREATE INDEX idx_worker_meta_gin ON worker USING GIN (meta);
CREATE INDEX idx_worker_capabilities_health_status ON worker USING GIN ((capabilities -> 'health' -> 'status'));
CREATE INDEX idx_worker_cordoned ON worker (cordoned) WHERE cordoned = TRUE;
CREATE INDEX idx_worker_role_cordoned_status ON worker (worker_role, cordoned, status);
CREATE TRIGGER update_worker_updated BEFORE UPDATE ON worker FOR EACH ROW EXECUTE FUNCTION update_updated_column();

CREATE TABLE sensor_process (
  id                         BIGSERIAL PRIMARY KEY,
  sensor                     BIGINT NOT NULL REFERENCES sensor (id) ON DELETE CASCADE,
  sensor_ref                 TEXT NOT NULL,
  worker                     BIGINT NOT NULL REFERENCES worker (id) ON DELETE CASCADE,
  worker_name                TEXT NOT NULL,
  status                     sensor_process_status_enum NOT NULL DEFAULT 'starting',
  pid                        INTEGER,
  consecutive_failures       INTEGER NOT NULL DEFAULT 0,
  last_exit_code             INTEGER,
  last_signal                INTEGER,
  last_started_at            TIMESTAMPTZ,
  last_stopped_at            TIMESTAMPTZ,
  next_restart_at            TIMESTAMPTZ,
  stderr_excerpt             TEXT,
  log_artifact_ref           TEXT,
  active_rule_count          INTEGER NOT NULL DEFAULT 0,
  last_alerted_failure_count INTEGER NOT NULL DEFAULT 0,
  last_alerted_at            TIMESTAMPTZ,
  meta                       JSONB NOT NULL DEFAULT '{}'::jsonb,
  created                    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated                    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT sensor_process_pid_positive CHECK (pid IS NULL OR pid > 0),
  CONSTRAINT sensor_process_failures_nonnegative CHECK (consecutive_failures >= 0),
  CONSTRAINT sensor_process_active_rules_nonnegative CHECK (active_rule_count >= 0),
  CONSTRAINT sensor_process_alerted_failures_nonnegative CHECK (last_alerted_failure_count >= 0)
);
CREATE UNIQUE INDEX ux_sensor_process_sensor_worker ON sensor_process (sensor, worker);
CREATE UNIQUE INDEX ux_sensor_process_sensor_ref_worker_name ON sensor_process (sensor_ref, worker_name);
CREATE INDEX idx_sensor_process_sensor ON sensor_process (sensor);
CREATE INDEX idx_sensor_process_sensor_ref ON sensor_process (sensor_ref);
CREATE INDEX idx_sensor_process_worker ON sensor_process (worker);
CREATE INDEX idx_sensor_process_worker_status ON sensor_process (worker, status);
CREATE INDEX idx_sensor_process_status ON sensor_process (status);
CREATE INDEX idx_sensor_process_next_restart ON sensor_process (next_restart_at) WHERE status = 'backoff' AND next_restart_at IS NOT NULL;
CREATE INDEX idx_sensor_process_meta_gin ON sensor_process USING GIN (meta);
CREATE TRIGGER update_sensor_process_updated BEFORE UPDATE ON sensor_process FOR EACH ROW EXECUTE FUNCTION update_updated_column();
