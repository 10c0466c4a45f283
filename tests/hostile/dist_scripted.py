#!/usr/bin/python3
"""A scripted distribution endpoint for custos-agent tests.

Serves GET /v1/distribution/REF from DIR/REF.json, a body that the test
writes, with the ETag taken from the body's "version" member, and 304
when If-None-Match names it. A request without "Authorization: Bearer
TOKEN" (TOKEN read from DIR/token) gets 401. Every request is appended
to DIR/requests.log as "REF STATUS". It lets a test send the agent
wrapped keys and damaged bodies that the broker never sends.

Usage: dist_scripted.py DIR PORT
"""
import http.server
import json
import os
import sys

DIR = sys.argv[1]
PORT = int(sys.argv[2])
PREFIX = "/v1/distribution/"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", etag=None):
        self.send_response(status)
        if etag is not None:
            self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        ref = self.path[len(PREFIX):]
        with open(os.path.join(DIR, "requests.log"), "a") as log:
            log.write(f"{ref} {status}\n")

    def do_GET(self):
        with open(os.path.join(DIR, "token")) as f:
            token = f.read().strip()
        if self.headers.get("Authorization") != f"Bearer {token}":
            self.send(401, b'{"detail": "unknown token"}')
            return
        ref = self.path[len(PREFIX):]
        path = os.path.join(DIR, ref + ".json")
        if not self.path.startswith(PREFIX) or "/" in ref or \
                not os.path.exists(path):
            self.send(404, b'{"detail": "no such certificate"}')
            return
        with open(path, "rb") as f:
            body = f.read()
        etag = '"%s"' % json.loads(body).get("version", "")
        if self.headers.get("If-None-Match") == etag:
            self.send(304, etag=etag)
            return
        self.send(200, body, etag)


http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
