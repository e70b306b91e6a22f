"""Watches a directory and emits an event for each file created or modified since the last poll.

Config:
  path        directory to watch (default /tmp)
  state_file  where the time of the last poll is kept (default: one file per watched
              directory under the system temp dir, so two watchers never share state)

The seed version of this sensor lacked its `time` and `datetime` imports, shared one
state file between every instance, and crashed with a bare traceback on a missing directory.
"""
import hashlib
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def default_state_file(watch_path):
    digest = hashlib.sha256(str(watch_path.resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / ("attune_file_watcher_%s.last" % digest)


def poll_sensor(config):
    watch_path = Path(config.get("path", "/tmp"))
    if not watch_path.is_dir():
        raise FileNotFoundError("watched directory does not exist: %s" % watch_path)
    state_file = Path(config["state_file"]) if config.get("state_file") else default_state_file(watch_path)

    last_check = float(state_file.read_text()) if state_file.exists() else 0.0
    current_time = time.time()

    for file_path in sorted(watch_path.iterdir()):
        if file_path.is_file() and file_path != state_file:
            info = file_path.stat()
            if info.st_mtime > last_check:
                yield {
                    "event_type": "file_created" if info.st_ctime > last_check and last_check > 0 else "file_changed",
                    "path": str(file_path),
                    "size": info.st_size,
                    "modified": datetime.fromtimestamp(info.st_mtime, tz=timezone.utc).isoformat(),
                }

    # Written last: if the poll fails half-way, the next poll reports the same files again.
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(repr(current_time))
    os.replace(tmp, state_file)
