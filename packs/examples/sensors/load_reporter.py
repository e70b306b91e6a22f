#!/usr/bin/env python3
"""A standalone sensor, written only against Attune's sensor interface.

It runs for as long as the daemon lets it (execution: long_running) and talks to the daemon's
HTTP API with the environment every Attune sensor gets:

  ATTUNE_API_URL          the API to call          ATTUNE_API_TOKEN   its bearer token
  ATTUNE_SENSOR_REF       this sensor's ref        ATTUNE_SENSOR_ID   its row's id
  ATTUNE_SENSOR_TRIGGERS  the enabled rules of its triggers: [{"id", "ref", "config"}, ...]
  ATTUNE_LOG_LEVEL        how much to log (stderr is the daemon's log)

For every enabled rule of examples.load_report it reports the host's load average every
`interval` seconds (the rule's trigger_params), tied to that rule with trigger_instance_id
"rule_<id>". It refreshes its token through /api/v1/auth/refresh when 80 % of its lifetime has
passed, and stops cleanly on SIGTERM. Python 3 standard library only.
"""
import base64
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

TRIGGER = "examples.load_report"
API = os.environ["ATTUNE_API_URL"].rstrip("/")
SENSOR = os.environ["ATTUNE_SENSOR_REF"]
DEBUG = os.environ.get("ATTUNE_LOG_LEVEL", "info") == "debug"
token = os.environ["ATTUNE_API_TOKEN"]
running = True


def log(message):
    print(f"{SENSOR}: {message}", file=sys.stderr, flush=True)


def call(method, path, body=None):
    """One API call; returns the decoded JSON answer or raises urllib.error.HTTPError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def claims(jwt):
    """The token's claims (no need to verify: the API does)."""
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def refresh_at(jwt):
    c = claims(jwt)
    return c["iat"] + (c["exp"] - c["iat"]) * 0.8


def rules():
    """The enabled rules of the trigger, from the API (the environment has them too)."""
    try:
        return call("GET", f"/api/v1/triggers/{TRIGGER}/rules")["data"]
    except (urllib.error.URLError, OSError) as error:
        log(f"cannot fetch rules, using the environment's: {error}")
        return [r for r in json.loads(os.environ.get("ATTUNE_SENSOR_TRIGGERS", "[]")) if r.get("trigger_ref", TRIGGER) == TRIGGER]


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

schedule = {}  # rule id -> next report time
next_rules = 0
renew = refresh_at(token)
while running:
    now = time.time()
    if now >= renew:
        try:
            answer = call("POST", "/api/v1/auth/refresh", {})
            token = answer["token"]
            renew = refresh_at(token)
            log(f"token refreshed, expires {answer['expires_at']}")
        except (urllib.error.URLError, OSError) as error:
            log(f"token refresh failed, retrying in 30 s: {error}")
            renew = now + 30
    if now >= next_rules:
        current = {r["id"]: r for r in rules()}
        schedule = {rid: schedule.get(rid, now) for rid in current}
        configs = {rid: (r.get("trigger_params") or r.get("config") or {}) for rid, r in current.items()}
        next_rules = now + 30
    for rid, due in list(schedule.items()):
        if now < due:
            continue
        interval = max(1, float(configs[rid].get("interval", 20)))
        schedule[rid] = due + interval if due + interval > now else now + interval
        load1, load5, load15 = os.getloadavg()
        payload = {"host": socket.gethostname(), "load1": load1, "load5": load5, "load15": load15, "reported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            answer = call("POST", "/api/v1/events", {"trigger_ref": TRIGGER, "payload": payload, "trigger_instance_id": f"rule_{rid}"})
            if DEBUG:
                log(f"event {answer['data']['id']} for rule {rid}")
        except urllib.error.HTTPError as error:
            log(f"event refused: {error.code} {error.read().decode(errors='replace')}")
        except (urllib.error.URLError, OSError) as error:
            log(f"API unreachable, will retry: {error}")
    time.sleep(0.2)
log("stopped")
