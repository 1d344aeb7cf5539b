"""A stand-in for a user's own artifact: reads its port and version from the environment
the cattle.immutable.app unit sets (APP_PORT, APP_VERSION) and answers /health."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/health":
            body = json.dumps({"status": "ok", "version": os.environ["APP_VERSION"]}).encode()
        else:
            body = b"greetings\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["APP_PORT"])), Handler).serve_forever()
