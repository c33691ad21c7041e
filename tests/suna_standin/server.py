"""SUNA's http_server stand-in on 8080: GET /health from `supervisorctl status`; otherwise the workspace's files."""

import functools
import http.server
import json
import subprocess


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/health":
            super().do_GET()
            return
        status = subprocess.run(["supervisorctl", "status"], capture_output=True, text=True).stdout
        services = {line.split()[0]: line.split()[1] for line in status.splitlines() if line.split()}
        healthy = all(state == "RUNNING" for state in services.values())
        body = json.dumps({"status": "healthy" if healthy else "unhealthy", "services": services}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


handler = functools.partial(Handler, directory="/workspace")
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), handler).serve_forever()
