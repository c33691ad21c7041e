"""SUNA's browserApi stand-in on 8004: POST /api/navigate {"url": ...} opens it in a Chromium on the display."""

import http.server
import json
import subprocess
import time

from playwright.sync_api import sync_playwright

for _ in range(100):  # the display first
    if subprocess.run(["xdpyinfo"], capture_output=True).returncode == 0:
        break
    time.sleep(0.2)
playwright = sync_playwright().start()
browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=False, args=["--no-sandbox"])
page = browser.new_page()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/api/navigate":
            self.send_error(404)
            return
        page.goto(request["url"])
        body = json.dumps({"success": True, "url": page.url, "title": page.title()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("0.0.0.0", 8004), Handler).serve_forever()
