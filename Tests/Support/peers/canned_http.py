#!/usr/bin/env python3
"""An HTTP peer that answers every request with one canned response, for AWS answers no emulator produces
(SQS's QueueDeletedRecently). Usage: canned_http.py STATUS HEADERS_JSON BODY. Prints its port, runs until killed."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

status, headers, body = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3].encode()


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
