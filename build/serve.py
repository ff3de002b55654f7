"""Serve site/ on 127.0.0.1 the way a plain static host would.

The Content-Security-Policy is sent as a header too (the page also carries it
as a <meta> tag) because a worker's policy comes from the worker script's own
response, not from the page that starts it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import socketserver
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def csp_from_page(site: Path) -> str:
    """The one policy, read from the built page so the two can never differ."""
    m = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"',
                  (site / "index.html").read_text())
    if not m:
        raise RuntimeError("index.html carries no Content-Security-Policy")
    return m.group(1)


def worker_csp(page_csp: str) -> str:
    """The worker's policy: the page's, plus eval for Panel's Pyodide module.

    panel.io.pyodide builds a JS helper with pyodide.code.run_js (an eval) at
    import time. The worker holds no DOM, and connect-src stays 'self', so
    the worker still cannot reach another origin.
    """
    return page_csp.replace("'wasm-unsafe-eval'", "'wasm-unsafe-eval' 'unsafe-eval'")


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".whl": "application/zip",
        ".json": "application/json",
        ".webmanifest": "application/manifest+json",
    }
    csp = ""

    def end_headers(self) -> None:
        csp = self.csp
        if self.path.split("?")[0].endswith("worker.js"):
            csp = worker_csp(csp)
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = True


def make_server(site: Path, port: int = 0, verbose: bool = False) -> Server:
    """A server bound to 127.0.0.1 (port 0 picks a free one), not yet started."""
    handler = type("SiteHandler", (Handler,), {"csp": csp_from_page(site)})
    server = Server(("127.0.0.1", port), functools.partial(handler, directory=str(site)))
    server.verbose = verbose
    return server


def serve_in_thread(site: Path, port: int = 0) -> tuple[Server, str]:
    """Start serving in a daemon thread; returns (server, base URL)."""
    server = make_server(site, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    server = make_server(args.site, args.port, verbose=True)
    print(f"Where Facts Live is served at http://127.0.0.1:{server.server_address[1]}/ "
          "(Ctrl+C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
