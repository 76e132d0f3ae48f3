"""Looking at the built site in headless Chromium, as a reader at 1280 px would.

No browser driver is needed: the site is served on localhost by a small HTTP server
that also serves one extra page, ``__check__.html``. That page loads every page of the
site in turn in a 1280-px-wide iframe (same origin, so its script can read the
iframe's layout), measures it, and writes the results into its own DOM as JSON;
``chromium --headless --dump-dom`` prints that DOM once the checks are done. One
browser process checks the whole site.

Also usable by hand, to serve a built site and take screenshots::

    python -m tests.docs.browser SITE_DIR OUT_DIR index.html install.html ...
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WIDTH = 1280
CHECK_PAGE = "__check__.html"
REPORT = "__report__"
DONE = "__done__"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Flags for a quiet, self-contained headless browser: no GPU, no first-run UI, no
# background requests to Google's services, no component or sync updates.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

# Runs in __check__.html: visits each page in an iframe, measures, reports as JSON.
CHECK_SCRIPT = r"""
const pages = JSON.parse(document.getElementById("pages").textContent);
const frame = document.getElementById("frame");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = {};
function measure(doc) {
  const blocks = [...doc.querySelectorAll(".md-typeset pre > code")];
  const visible = blocks.filter((c) => c.clientWidth > 0);
  const over = visible
    .filter((c) => c.scrollWidth > c.clientWidth + 1)
    .map((c) => ({first_line: c.textContent.split("\n")[0].slice(0, 100),
                  scroll: c.scrollWidth, client: c.clientWidth}));
  const root = doc.documentElement;
  return {
    code_blocks: visible.length,
    overflowing: over,
    page_scroll_width: root.scrollWidth,
    page_client_width: root.clientWidth,
    search_input: !!doc.querySelector("input.md-search__input"),
  };
}
async function searchState(doc) {
  // Material writes "Initializing search" until its worker has loaded the index.
  let meta = "";
  for (let i = 0; i < 100; i++) {
    const el = doc.querySelector(".md-search-result__meta");
    meta = el ? el.textContent.trim() : "(no result area)";
    if (meta && !meta.startsWith("Initializing")) break;
    await sleep(100);
  }
  return meta;
}
async function run() {
  for (const page of pages) {
    await new Promise((resolve) => { frame.onload = resolve; frame.src = page; });
    await sleep(50);
    try {
      results[page] = measure(frame.contentDocument);
      if (page === pages[0]) results[page].search_meta = await searchState(frame.contentDocument);
    } catch (e) {
      results[page] = {error: String(e)};
    }
  }
  await fetch("/__report__", {method: "POST", body: JSON.stringify(results)});
}
run();
"""


def find_chromium() -> str | None:
    """The path of a Chromium executable (``UNFREEZE_CHROMIUM`` first), or None."""
    configured = os.environ.get("UNFREEZE_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_pages(site: Path) -> list[str]:
    """Every page of the built site, as URL paths relative to its root."""
    pages = [p.relative_to(site).as_posix() for p in sorted(site.rglob("*.html"))]
    # The home page first: the search check runs on the first page.
    return sorted((p for p in pages if p != "404.html"), key=lambda p: p != "index.html")


def check_page(pages: Sequence[str]) -> bytes:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>check</title></head>"
        "<body style='margin:0'>"
        f"<iframe id='frame' style='width:{WIDTH}px;height:900px;border:0'></iframe>"
        f"<script type='application/json' id='pages'>{json.dumps(list(pages))}</script>"
        f"<script>{CHECK_SCRIPT}</script>"
        # The load event, at which --dump-dom returns, waits for this image: the server
        # answers it once the script has posted its report (real time, no virtual time,
        # so the search worker runs as in a reader's browser).
        f"<img src='/{DONE}' alt='' width='1' height='1'></body></html>"
    )
    return body.encode()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    report: bytes | None = None
    done = threading.Event()
    wait_s = 60.0

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that drops a connection (a favicon request while it shuts down) is
        # not an error of the site; anything else is printed as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(site: Path, pages: Sequence[str] = (), wait_s: float = 60) -> Iterator[Server]:
    """Serve ``site`` on a free localhost port, plus ``__check__.html`` over ``pages``
    and the report it posts (``server.report``)."""
    extra = check_page(pages)

    class Handler(http.server.SimpleHTTPRequestHandler):
        server: Server

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            if name == CHECK_PAGE:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(extra)))
                self.end_headers()
                self.wfile.write(extra)
            elif name == DONE:
                self.server.done.wait(self.server.wait_s)
                self.send_response(204)
                self.end_headers()
            else:
                super().do_GET()

        def do_POST(self) -> None:
            if self.path.lstrip("/") != REPORT:
                self.send_error(404)
                return
            self.server.report = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.done.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Handler, directory=str(site))
    server = Server(("127.0.0.1", 0), handler)
    server.done = threading.Event()
    server.wait_s = wait_s
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.done.set()
        server.shutdown()
        server.server_close()


def chromium(executable: str, *args: str, timeout: float = 60) -> str:
    """Run headless Chromium with a fresh profile; its stdout."""
    with tempfile.TemporaryDirectory(prefix="unfreeze-chromium-") as profile:
        result = subprocess.run(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return result.stdout


def check_site(site: Path, executable: str, timeout: float = 60) -> dict[str, Any]:
    """Measure every page of ``site`` at 1280 px; ``{page: measurements}``."""
    pages = html_pages(site)
    with serve(site, pages, wait_s=timeout) as server:
        dom = chromium(
            executable,
            f"--window-size={WIDTH},900",
            "--dump-dom",
            url(server, CHECK_PAGE),
            timeout=timeout + 15,
        )
    if server.report is None:
        raise RuntimeError(f"the check page posted no report; Chromium printed:\n{dom[-2000:]}")
    report: dict[str, Any] = json.loads(server.report)
    return report


def url(server: Server, page: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{page}"


def screenshots(site: Path, out: Path, pages: Sequence[str], height: int = 2400) -> list[Path]:
    """PNG screenshots of ``pages`` at 1280 px wide, served over HTTP."""
    executable = find_chromium()
    if executable is None:
        raise RuntimeError("no chromium found")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve(site) as server:
        for page in pages:
            png = out / (page.replace("/", "_").removesuffix(".html") + ".png")
            chromium(
                executable,
                f"--window-size={WIDTH},{height}",
                "--virtual-time-budget=5000",
                f"--screenshot={png}",
                url(server, page),
            )
            written.append(png)
    return written


if __name__ == "__main__":
    site_dir, out_dir, *names = sys.argv[1:]
    for path in screenshots(Path(site_dir), Path(out_dir), names or ["index.html"]):
        print(path)
