#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub for tests/hub-pull.sh.

Serves ROOT/ORG/NAME/REV/FILE at /ORG/NAME/resolve/REV/FILE with what
socfw's pull relies on: Range requests (206), an X-Linked-Etag with the
SHA-256 of *.safetensors and *.gguf files (as huggingface.co does for large
files), and, driven by marker files next to a file or in the repository:
  FILE.cut      send only that many bytes of FILE, then drop the connection
  FILE.badsha   announce this SHA-256 instead of the real one
  .token        answer 401 unless "Authorization: Bearer <contents>"
Usage: hub-server.py ROOT PORTFILE   (binds 127.0.0.1 on a free port and
writes the port number to PORTFILE).
"""
import hashlib
import http.server
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1])


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/([^/]+)",
                         self.path)
        if not m:
            return self.send_error(404)
        org, name, rev, fname = m.groups()
        repo = os.path.join(ROOT, org, name)
        path = os.path.join(repo, rev, fname)
        if not os.path.abspath(path).startswith(ROOT + os.sep):
            return self.send_error(404)
        tok = os.path.join(repo, ".token")
        if os.path.exists(tok):
            want = "Bearer " + read(tok).decode().strip()
            if self.headers.get("Authorization") != want:
                return self.send_error(401)
        if not os.path.isfile(path):
            return self.send_error(404)
        data = read(path)
        start = 0
        rng = self.headers.get("Range")
        if rng:
            r = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(r.group(1)) if r else 0
            if start >= len(data):
                return self.send_error(416)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" %
                             (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        if fname.endswith((".safetensors", ".gguf")):
            sha = hashlib.sha256(data).hexdigest()
            if os.path.exists(path + ".badsha"):
                sha = read(path + ".badsha").decode().strip()
            self.send_header("X-Linked-Etag", '"%s"' % sha)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if os.path.exists(path + ".cut"):
            body = body[:int(read(path + ".cut"))]
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
