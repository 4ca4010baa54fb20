"""A webhook on 127.0.0.1 that alert tests deliver to (Apprise's json:// URL): it can refuse with HTTP 500, go
down (its port closed) and come back up on the same port, and answer slowly."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALERT_ID = re.compile(r"^Alert (\S+)\.$", re.MULTILINE)


class Receiver:
    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.fail_first, self.delay = fail_first, delay
        self.refusing = False
        self.received, self.requests, self.accepted = 0, 0, []  # received: before the delay; requests: answered
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()
        self.url = f"json://127.0.0.1:{self.port}/hook"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.received += 1
                time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.requests += 1
                    ok = receiver.requests > receiver.fail_first and not receiver.refusing
                    if ok:
                        receiver.accepted.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def up(self) -> None:
        """Listen (again) on the same port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Close the port: a sender's connection is refused."""
        self.server.shutdown()
        self.server.server_close()

    def titles(self) -> list[str]:
        return [b["title"] for b in self.accepted]

    def ids(self) -> list[str | None]:
        """The alert id each accepted message carries (the last line of the English templates), None if none."""
        return [m.group(1) if (m := ALERT_ID.search(b["message"])) else None for b in self.accepted]
