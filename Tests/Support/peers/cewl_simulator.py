#!/usr/bin/env python3
"""The CTCI CEWL API for Trawl's tests: GET /api/v1/cewl with header x-api-key answers {"data": [...]}, the
list the test set last. Tokens: "cewl-token"; anything else is 401.

Control (no token): POST /_sim/list {"data": [...]} replaces the list; POST /_sim/fault {"status": n,
"count": k, "body": text, "delay": seconds, "location": a Location header} makes the next k requests answer that (after the delay); GET /_sim/requests counts the API requests.
Prints its port, runs until killed."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

lock = threading.Lock()
state = {"data": [], "faults": [], "requests": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def reply(self, status, raw, location=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        delay, answer = 0, None
        with lock:
            if self.path == "/_sim/requests":
                return self.reply(200, json.dumps({"requests": state["requests"]}).encode())
            if self.path.split("?")[0] != "/api/v1/cewl":
                return self.reply(404, b'{"message": "Not Found"}')
            state["requests"] += 1
            for fault in state["faults"]:
                if fault["count"] > 0:
                    fault["count"] -= 1
                    delay = fault.get("delay", 0)
                    answer = (fault["status"], fault.get("body", '{"message": "injected"}').encode(), fault.get("location"))
                    break
        if answer is not None:
            time.sleep(delay)
            return self.reply(*answer)
        with lock:
            if self.headers.get("x-api-key") != "cewl-token":
                return self.reply(401, b'{"message": "Unauthorized"}')
            return self.reply(200, json.dumps({"data": state["data"]}).encode())

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with lock:
            if self.path == "/_sim/list":
                state["data"] = body["data"]
            elif self.path == "/_sim/fault":
                state["faults"].append(body)
            else:
                return self.reply(404, b"{}")
            return self.reply(200, b"{}")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
