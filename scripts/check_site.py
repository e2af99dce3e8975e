"""Check the built website in headless Chromium, offline.

    python scripts/check_site.py _build/html
    python scripts/check_site.py _build/html --screenshot notebooks/03_attention.html attention.png

Serves the folder on 127.0.0.1 (a free port, http.server in a thread), opens every page in headless
Chromium through the DevTools protocol (websocket-client) and fails (exit 1, one line per problem)
when a page has
  - a JavaScript error (an uncaught exception or a console error),
  - a failed request to 127.0.0.1 (network error or HTTP status >= 400),
  - an image that did not load (naturalWidth 0),
  - an internal link whose target file, or whose #anchor in that file, is missing,
  - math left untypeset: a `.math` element without an `mjx-container` after MathJax finished, or raw
    `\\(`, `\\[` or `$$` in the text (code blocks excepted).
Nothing may leave 127.0.0.1: every other request is blocked in the browser, counted and reported as a
problem. Exit 2 when the check itself cannot run (no Chromium, no folder).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import websocket  # websocket-client

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,900",
    # Belt and braces: no host name other than 127.0.0.1 resolves, even outside the page.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = {"127.0.0.1"}
REFRESH = re.compile(r'<meta[^>]+http-equiv="refresh"[^>]+content="\d+;\s*url=([^"]+)"', re.IGNORECASE)
SKIP_DIRS = ("_static/", "_sources/", "_images/", "_downloads/", "_panels_static/", "reports/")

# Runs in the page after the load event; resolves to a JSON-able report.
PAGE_REPORT_JS = r"""
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const images = [...document.images];
  for (const img of images) { if (img.loading === "lazy") img.loading = "eager"; }
  await Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener("load", resolve, {once: true});
    img.addEventListener("error", resolve, {once: true});
    setTimeout(resolve, 10000);
  })));
  let mathjax = "not on page";
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    mathjax = await Promise.race([
      window.MathJax.startup.promise.then(() => "typeset", (e) => "error: " + e),
      sleep(20000).then(() => "timed out after 20 s"),
    ]);
  } else if (window.MathJax) {
    mathjax = "configured but its script did not load";
  }
  const mathElements = [...document.querySelectorAll(".math")];
  const untypeset = mathElements
    .filter((el) => !el.querySelector("mjx-container"))
    .map((el) => el.textContent.trim().slice(0, 80));
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER", "KBD", "SAMP"]);
  const raw = [];
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue;
    if (!(text.includes("\\(") || text.includes("\\[") || text.includes("$$"))) continue;
    let parent = node.parentElement, inCode = false;
    while (parent) {
      if (skip.has(parent.tagName) || parent.classList.contains("highlight")) { inCode = true; break; }
      parent = parent.parentElement;
    }
    if (!inCode && !(node.parentElement && node.parentElement.closest(".math"))) {
      raw.push(text.trim().slice(0, 80));
    }
  }
  return {
    title: document.title,
    mathjax: mathjax,
    mathCount: mathElements.length,
    untypeset: untypeset,
    rawMath: raw,
    images: images.map((img) => ({src: img.currentSrc || img.src, width: img.naturalWidth})),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  };
})()
"""


@dataclass
class PageEvents:
    """What the browser reported while one page loaded."""

    loader_id: str | None = None
    loaded: bool = False
    errors: list[str] = field(default_factory=list)  # JS exceptions and console errors
    failed: list[str] = field(default_factory=list)  # failed requests to 127.0.0.1
    blocked: list[str] = field(default_factory=list)  # requests that tried to leave 127.0.0.1
    urls: dict[str, str] = field(default_factory=dict)  # requestId -> url
    pending: set[str] = field(default_factory=set)
    last_activity: float = field(default_factory=time.monotonic)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve root on 127.0.0.1 at a free port in a daemon thread; return the server and its base URL."""
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "devtools", "javascript", "mailto"):
        return True
    return parts.hostname in LOCAL_HOSTS


class Browser:
    """Headless Chromium driven over the DevTools protocol on one websocket (flat sessions)."""

    def __init__(self, executable: str, timeout: float) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="check-site-chromium-")
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its helper processes share one group that close() ends
        )
        self.ws = websocket.create_connection(self._devtools_url(), timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.session: str | None = None
        self.page = PageEvents()

    def _devtools_url(self) -> str:
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start: {self.process.stderr.read().decode()[-2000:]}")
            if port_file.is_file():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError("Chromium did not open its DevTools port within 30 s")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)  # the group of the process started above
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- protocol -------------------------------------------------------------------------------
    def send(self, method: str, params: dict | None = None, session: bool = True, wait: bool = True) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        if not wait:
            return {}
        return self.pump(lambda: None, reply_id=self.next_id, what=method)

    def pump(self, done, reply_id: int | None = None, what: str = "", timeout: float | None = None):
        """Handle messages until the reply `reply_id` arrives or done() returns a value; return it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if reply_id is None:
                result = done()
                if result is not None:
                    return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {what} within {timeout or self.timeout:.0f} s")
            self.ws.settimeout(min(remaining, 0.2))
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if "id" in message:
                if message["id"] == reply_id:
                    if "error" in message:
                        raise RuntimeError(f"{what}: {message['error']}")
                    return message.get("result", {})
                continue
            self._on_event(message["method"], message.get("params", {}))

    def _on_event(self, method: str, params: dict) -> None:
        page = self.page
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if is_local(url):
                self.send("Fetch.continueRequest", {"requestId": params["requestId"]}, wait=False)
            else:
                page.blocked.append(url)
                self.send("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                          wait=False)
            return
        page.last_activity = time.monotonic()
        if method == "Page.loadEventFired":
            page.loaded = True
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            page.errors.append(f"JS exception: {text.splitlines()[0] if text else details}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            page.errors.append(f"console error: {text[:200]}")
        elif method == "Network.requestWillBeSent":
            page.urls[params["requestId"]] = params["request"]["url"]
            page.pending.add(params["requestId"])
        elif method == "Network.responseReceived":
            response = params["response"]
            if response.get("status", 0) >= 400 and is_local(response["url"]):
                page.failed.append(f"HTTP {response['status']} {response['url']}")
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            page.pending.discard(params["requestId"])
            url = page.urls.get(params["requestId"], "?")
            if (method == "Network.loadingFailed" and not params.get("canceled")
                    and urlsplit(url).hostname in LOCAL_HOSTS):
                page.failed.append(f"{params.get('errorText', 'failed')} {url}")

    # -- pages ----------------------------------------------------------------------------------
    def open_tab(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable")
        self.send("Network.setCacheDisabled", {"cacheDisabled": True})
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})

    def load(self, url: str) -> tuple[PageEvents, dict]:
        """Open url, wait for load, images and MathJax; return the browser's events and the page report."""
        self.page = PageEvents()
        navigation = self.send("Page.navigate", {"url": url})
        if navigation.get("errorText"):
            self.page.failed.append(f"{navigation['errorText']} {url}")
            return self.page, {}
        self.pump(lambda: True if self.page.loaded else None, what=f"the load event of {url}")
        evaluated = self.send("Runtime.evaluate", {"expression": PAGE_REPORT_JS, "awaitPromise": True,
                                                   "returnByValue": True}, )
        if "exceptionDetails" in evaluated:
            raise RuntimeError(f"page check script failed on {url}: {evaluated['exceptionDetails']}")
        # let late requests (fonts, MathJax extensions) finish: 300 ms without network activity
        try:
            self.pump(lambda: True if not self.page.pending and time.monotonic() - self.page.last_activity > 0.3
                      else None, what=f"network idle on {url}", timeout=15)
        except TimeoutError:
            stuck = sorted({self.page.urls.get(request, request) for request in self.page.pending})
            self.page.failed.append(f"still loading after 15 s: {', '.join(stuck)}")
        return self.page, evaluated["result"]["value"]

    def screenshot(self, url: str, out: Path) -> None:
        """Save a full-page PNG of url."""
        import base64

        viewport = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", viewport)
        self.load(url)
        height = self.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                                "returnByValue": True})["result"]["value"]
        self.send("Emulation.setDeviceMetricsOverride", {**viewport, "height": min(int(height), 16000)})
        self.send("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"})
        time.sleep(0.3)  # one layout pass after the resize
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        self.send("Emulation.clearDeviceMetricsOverride")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))


class AnchorCollector(HTMLParser):
    """Collect every id= and name= of an HTML file: the targets a #fragment may point at."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.anchors.add(value)


@functools.lru_cache(maxsize=None)
def anchors_of(path: Path) -> frozenset[str]:
    collector = AnchorCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.anchors)


def check_link(root: Path, base: str, href: str) -> str | None:
    """None when an internal link resolves to an existing file (and anchor); else what is wrong."""
    parts = urlsplit(href)
    if not href.startswith(base):
        return None  # external links are not requests; the page does not load them
    relative = unquote(parts.path[len(urlsplit(base).path):])
    target = root / relative
    if relative == "" or relative.endswith("/") or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"broken link: {href[len(base):]} (no file {target.relative_to(root)})"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors_of(target):
        return f"broken link: {href[len(base):]} (no #{fragment} in {target.relative_to(root)})"
    return None


def list_pages(root: Path) -> list[str]:
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    return [p for p in pages if not p.startswith(SKIP_DIRS)]


def check_pages(browser: Browser, root: Path, base: str, pages: list[str]) -> tuple[list[str], dict]:
    problems: list[str] = []
    totals = {"pages": 0, "images": 0, "links": 0, "internal_links": 0, "math": 0, "blocked": 0}
    for page in pages:
        totals["pages"] += 1
        redirect = REFRESH.search((root / page).read_text(encoding="utf-8", errors="replace")[:2000])
        if redirect:  # e.g. Jupyter Book's index.html: only a redirect, nothing to render
            totals["links"] += 1
            totals["internal_links"] += 1
            target = urljoin(base + page, redirect.group(1).strip())
            problem = check_link(root, base, target) if target.startswith(base) else f"redirect leaves the site: {target}"
            if problem:
                problems.append(f"{page}: {problem}")
            continue
        events, report = browser.load(base + page)
        found: list[str] = []
        found += events.errors
        found += [f"failed request: {item}" for item in dict.fromkeys(events.failed)]
        found += [f"request tried to leave 127.0.0.1 (blocked): {url}" for url in dict.fromkeys(events.blocked)]
        totals["blocked"] += len(events.blocked)
        if report:
            for image in report["images"]:
                if image["width"] == 0:
                    found.append(f"image did not load: {image['src'][len(base):] if image['src'].startswith(base) else image['src']}")
            totals["images"] += len(report["images"])
            links = set(report["links"])
            totals["links"] += len(links)
            for href in sorted(links):
                if href.startswith(base):
                    totals["internal_links"] += 1
                    problem = check_link(root, base, href)
                    if problem:
                        found.append(problem)
            totals["math"] += report["mathCount"]
            if report["mathCount"] and report["mathjax"] != "typeset":
                found.append(f"MathJax {report['mathjax']}")
            found += [f"math not typeset: {text!r}" for text in report["untypeset"]]
            found += [f"raw math in text: {text!r}" for text in report["rawMath"]]
        problems += [f"{page}: {item}" for item in found]
    return problems, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the built website in headless Chromium, offline.")
    parser.add_argument("site", type=Path, help="the built HTML folder, e.g. _build/html")
    parser.add_argument("--screenshot", nargs=2, action="append", default=[], metavar=("PAGE", "OUT.png"),
                        help="also save a full-page screenshot of PAGE (relative to the site), e.g. "
                             "notebooks/03_attention.html; may be repeated")
    parser.add_argument("--pages", nargs="+", metavar="PAGE", help="check only these pages (default: every page)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                        help="Chromium executable (default: $CHROMIUM or %(default)s)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds allowed per browser step")
    args = parser.parse_args(argv)

    root = args.site.resolve()
    if not (root / "index.html").is_file() and not list_pages(root):
        print(f"check_site: {args.site} has no HTML pages; build the site first (make book)", file=sys.stderr)
        return 2
    if shutil.which(args.chromium) is None:
        print(f"check_site: no Chromium at {args.chromium}; install it (Debian: apt-get install chromium) "
              "or pass --chromium", file=sys.stderr)
        return 2
    pages = args.pages or list_pages(root)
    started = time.monotonic()
    server, base = serve(root)
    browser = None
    try:
        browser = Browser(args.chromium, args.timeout)
        browser.open_tab()
        problems, totals = check_pages(browser, root, base, pages)
        for page, out in args.screenshot:
            browser.screenshot(base + page, Path(out))
            print(f"check_site: screenshot of {page} saved to {out}")
    finally:
        if browser is not None:
            browser.close()
        server.shutdown()
    elapsed = time.monotonic() - started
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(
        f"check_site: {totals['pages']} pages, {totals['images']} images, {totals['links']} links "
        f"({totals['internal_links']} internal), {totals['math']} math elements checked, "
        f"{totals['blocked']} requests tried to leave 127.0.0.1, {len(problems)} problems, {elapsed:.1f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
