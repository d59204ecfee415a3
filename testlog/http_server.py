"""The HTTP server every test server here is: threaded, and quiet about a client that left."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (killed mid-request, timed out, done with a kept-alive
        # connection) is what the fault tests do on purpose; socketserver would print its
        # traceback into the stderr of whichever test runs then. Anything else is printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
