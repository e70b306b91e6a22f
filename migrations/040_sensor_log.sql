-- What sensors wrote as their log, for `attune sensor logs` on any machine: a poll sensor's
-- stderr (and stdout, for Python and Node sensors, where stdout is a log too), the traceback
-- and error of a failed poll, a long-running sensor's stderr lines. One row per line.
--
-- Bounded: each write keeps the newest lines per sensor (1000 by default) and deletes older
-- ones; a poll contributes its last 200 lines / 64 KiB at most. `poll` groups the lines of one
-- poll (an id the daemon makes up); `pid` is the long-running sensor process that wrote them.
-- Rows go with their sensor.
CREATE TABLE attune_sensor.sensor_log (
  id          bigserial PRIMARY KEY,
  sensor      bigint NOT NULL REFERENCES attune.sensor (id) ON DELETE CASCADE,
  sensor_ref  text NOT NULL,
  ts          timestamptz NOT NULL DEFAULT now(),
  stream      text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'traceback', 'error')),
  line        text NOT NULL,
  poll        text,
  pid         integer,
  worker      text
);
CREATE INDEX sensor_log_sensor_idx ON attune_sensor.sensor_log (sensor, id);
