-- Scale-out: which daemon polls which sensor. A lease is renewed with the daemon's ticks; a
-- daemon that dies stops renewing and its sensors are claimed by the others once it expires.
CREATE TABLE attune.sensor_lease (
  sensor    bigint PRIMARY KEY REFERENCES attune.sensor (id) ON DELETE CASCADE,
  owner     text NOT NULL,
  expires   timestamptz NOT NULL,
  acquired  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensor_lease_owner_idx ON attune.sensor_lease (owner);
CREATE INDEX sensor_lease_expires_idx ON attune.sensor_lease (expires);
