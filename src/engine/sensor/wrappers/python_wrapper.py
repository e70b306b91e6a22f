"""attune's Python sensor wrapper.

Usage: python3 python_wrapper.py SENSOR_FILE               (one poll, config in SENSOR_CONFIG)
       python3 python_wrapper.py --persistent SENSOR_FILE  (a runner: one request per stdin line)
       python3 python_wrapper.py --check SENSOR_FILE       (import it as a runner would, poll nothing)

The result goes to fd 3, a channel of its own, so whatever the sensor prints on
stdout or stderr stays a log and can never corrupt the result.
"""
import json
import os
import sys

WRAPPER_FILE = os.path.abspath(__file__)


def open_result_channel():
    # Keep a private, non-inheritable copy of fd 3 and close fd 3 itself, so neither the
    # sensor nor any process it starts can write into the result channel.
    fd = os.dup(3)
    os.close(3)
    return os.fdopen(fd, "w", encoding="utf-8")


def load_poll_function(path):
    import importlib.machinery
    import importlib.util

    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = os.path.splitext(os.path.basename(path))[0]
    # An explicit source loader: a file found by its shebang may have no .py extension,
    # and importlib only guesses a loader from the extension. It compiles the source every
    # time: a cached .pyc is trusted on mtime (whole seconds) and size, so a file saved twice
    # within a second at the same size would run the first save's code.
    class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
        def get_code(self, fullname):
            return compile(self.get_data(self.path), self.path, "exec", dont_inherit=True)

    loader = SourceOnlyLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError("cannot import %s as a Python module" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    poll = getattr(module, "poll_sensor", None)
    if not callable(poll):
        raise AttributeError("%s does not define a poll_sensor(config) function" % path)
    return poll


def as_event_list(result):
    """None -> no events; dict -> one event; list/tuple/generator/iterator -> its items."""
    if result is None:
        return []
    if isinstance(result, dict):
        return [result]
    if isinstance(result, (str, bytes, bytearray, int, float, bool)):
        return [result]
    if isinstance(result, (list, tuple)):
        return list(result)
    if hasattr(result, "__iter__"):
        return list(result)
    return [result]


def to_json_value(value):
    import datetime
    import decimal
    import pathlib
    import uuid

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (uuid.UUID, pathlib.PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def encode(document):
    return json.dumps(document, ensure_ascii=False, default=to_json_value, allow_nan=False)


def error_document(exc):
    import traceback

    tb = exc.__traceback__
    # Drop the wrapper's and importlib's own frames: the author wants their code's frames.
    while tb is not None and (
        os.path.abspath(tb.tb_frame.f_code.co_filename) == WRAPPER_FILE
        or tb.tb_frame.f_code.co_filename.startswith("<frozen importlib")
    ):
        tb = tb.tb_next
    if isinstance(exc, SystemExit):
        message = "the sensor called sys.exit(%s)" % (exc.code,)
    else:
        message = str(exc) or type(exc).__name__
    return {
        "error": message,
        "error_type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
    }


def poll(poll_function, config):
    """One poll: the encoded events document, or the encoded error document and False."""
    try:
        events = as_event_list(poll_function(config))
        return encode({"events": events}), True
    except BaseException as exc:  # a sensor's sys.exit() or KeyboardInterrupt is a failed poll too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return encode(error_document(exc)), False


def run_once(path, channel):
    try:
        config = json.loads(os.environ.get("SENSOR_CONFIG") or "{}")
        document, ok = poll(load_poll_function(path), config)
    except BaseException as exc:
        document, ok = encode(error_document(exc)), False
    channel.write(document)
    channel.write("\n")
    channel.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit at once: a sensor's leftover threads must not keep a finished poll alive.
    os._exit(0 if ok else 1)


def run_persistent(path, channel):
    try:
        poll_function = load_poll_function(path)
    except BaseException as exc:
        poll_function = None
        load_error = encode(error_document(exc))
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if poll_function is None:
            # Report the import failure and exit, so the next poll imports the file afresh.
            reply, ok = load_error, False
        else:
            reply, ok = poll(poll_function, request.get("config") or {})
        sys.stdout.flush()
        sys.stderr.flush()
        # "fatal": this runner exits after the reply (the import failed), so the parent retires it.
        fatal = ',"fatal":true' if poll_function is None else ""
        channel.write('{"id":%s,"ok":%s%s,"result":%s}\n' % (json.dumps(request.get("id")), "true" if ok else "false", fatal, reply))
        channel.flush()
        if poll_function is None:
            os._exit(1)
    os._exit(0)


def run_check(path, channel):
    """Imports the sensor and finds poll_sensor, as a runner starts: the changed file loads or not."""
    try:
        load_poll_function(path)
        document, ok = encode({"events": []}), True
    except BaseException as exc:
        document, ok = encode(error_document(exc)), False
    channel.write(document)
    channel.write("\n")
    channel.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if ok else 1)


def main():
    channel = open_result_channel()
    if len(sys.argv) == 3 and sys.argv[1] == "--persistent":
        run_persistent(sys.argv[2], channel)
    elif len(sys.argv) == 3 and sys.argv[1] == "--check":
        run_check(sys.argv[2], channel)
    elif len(sys.argv) == 2:
        run_once(sys.argv[1], channel)
    else:
        sys.stderr.write("usage: python_wrapper.py [--persistent|--check] SENSOR_FILE\n")
        os._exit(2)


if __name__ == "__main__":
    main()
