"""The no-sandbox baseline: one `python3 -c CODE` subprocess per request, or
`node -e CODE` for `"language": "javascript"`.

What a user does without goru. Same route and a goru-like JSON answer, so the
same wrk script drives both. Usage: native_server.py PORT
"""

import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps wrk's connections open, as with goru.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a kept-alive
    # connection waits ~40 ms for the client's delayed ACK between them.
    disable_nagle_algorithm = True

    def do_POST(self):
        if self.path != "/run":
            return self.answer(404, {"error": {"code": "not_found"}})
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = json.loads(body)
        code = request["code"]
        if request.get("language") == "javascript":
            command = ["node", "-e", code]
        else:
            command = [sys.executable, "-c", code]
        proc = subprocess.run(command, capture_output=True, timeout=10)
        self.answer(200, {
            "status": "ok" if proc.returncode == 0 else "error",
            "stdout": proc.stdout.decode(errors="replace"),
            "stderr": proc.stderr.decode(errors="replace"),
            "exit_code": proc.returncode,
        })

    def do_GET(self):
        self.answer(200, {"status": "ready"})  # /readyz for the same wait loop

    def answer(self, status, doc):
        data = json.dumps(doc, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # wrk hung up at the end of a test

    def log_message(self, *args):
        pass  # one line per request would cost more than it tells


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops SYNs when 8 connect at once
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
