"""The sample app of cattle.immutable: a tiny HTTP service, Python standard library only.

GET /health answers JSON with the version baked into the image; GET / answers a line of
text. Runtime settings come from the environment (the unit's EnvironmentFile):
APP_MESSAGE, the text of GET /. The port, address and version come from the command
line, which the image fixes, so nothing at boot can make the health check lie.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_version(path):
    with open(path, encoding="utf-8") as version_file:
        return version_file.read().strip()


class Handler(BaseHTTPRequestHandler):
    server_version = "cattle-sample-app"
    sys_version = ""

    def do_GET(self):  # noqa: N802 (the name http.server dispatches to)
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.answer(200, "application/json", json.dumps(self.server.health()) + "\n")
        elif path == "/":
            self.answer(200, "text/plain; charset=utf-8", self.server.message + "\n")
        else:
            self.answer(404, "text/plain; charset=utf-8", "not found\n")

    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def answer(self, status, content_type, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # Health probes every few seconds would drown the journal; log the rest.
        if not self.path.startswith("/health"):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, name, version, message):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.name = name
        self.version = version
        self.message = message
        self.started = time.monotonic()

    def health(self):
        return {
            "status": "ok",
            "name": self.name,
            "version": self.version,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
        }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--version-file", required=True)
    parser.add_argument("--name", default="app")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    message = os.environ.get("APP_MESSAGE", "Hello from the %s golden image." % args.name)
    server = AppServer((args.listen_address, args.port), args.name, read_version(args.version_file), message)
    # systemd stops us with SIGTERM: finish the request in flight, then leave.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    sys.stderr.write("%s %s listening on %s port %d\n" % (args.name, server.version, args.listen_address, args.port))
    sys.stderr.flush()
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
