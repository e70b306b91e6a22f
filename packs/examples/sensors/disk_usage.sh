#!/usr/bin/env bash
# Emits a disk_full event when the filesystem holding `path` is fuller than `threshold` percent.
#
# Config ($SENSOR_CONFIG): {"path": "/", "threshold": 80}
#
# The seed version read its threshold from a THRESHOLD variable the engine never sets, parsed
# `df -h`, whose lines wrap for long device names, and compared an empty string when df failed.
set -euo pipefail

config=${SENSOR_CONFIG:-"{}"}

# Reads a top-level scalar from the JSON config; jq when present, else a plain pattern match.
config_value() {
  if command -v jq >/dev/null 2>&1; then
    printf '%s' "$config" | jq -r --arg key "$1" '.[$key] // empty'
  else
    printf '%s' "$config" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p"
  fi
}

path=$(config_value path)
path=${path:-/}
threshold=$(config_value threshold)
threshold=${threshold:-80}

if ! [[ "$threshold" =~ ^[0-9]+$ ]]; then
  printf '{"error": "threshold must be a whole number of percent, got %s", "error_type": "ConfigError"}\n' "$threshold"
  exit 1
fi

# -P: one line per filesystem, whatever the device name's length.
if ! usage=$(df -P "$path" 2>/dev/null | awk 'NR==2 {sub("%", "", $5); print $5}') || [ -z "$usage" ]; then
  printf '{"error": "cannot read disk usage of %s", "error_type": "DiskUsageError"}\n' "$path"
  exit 1
fi

if [ "$usage" -gt "$threshold" ]; then
  printf '{"events": [{"event_type": "disk_full", "path": "%s", "usage_percent": %s, "threshold": %s}], "count": 1}\n' "$path" "$usage" "$threshold"
else
  printf '{"events": [], "count": 0}\n'
fi
