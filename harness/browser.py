"""A report page opened in a real headless browser (Debian's ``chromium``): did it render,
are its charts drawn, did the console report an error?

Chromium is driven over its DevTools protocol (``--remote-debugging-port``; a WebSocket,
``websockets``' sync client, which uvicorn[standard] already brings): the page is loaded in
a fresh profile, and every ``console.error``/``warning``, uncaught exception and failed load
(``Log.entryAdded`` at level error: a missing image, a blocked request) is collected; then
the page's charts are measured where the browser laid them out, and a screenshot taken. No
driver binary, no extra package: the browser is all it needs (``apt-get install
chromium``). ``parity report --browser-check`` and the report test use it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
# what the page's charts look like once laid out: [width, height, marks drawn] per chart
_CHARTS_JS = (
    "Array.from(document.querySelectorAll('svg.chart')).map(s => {"
    " const r = s.getBoundingClientRect();"
    " return [r.width, r.height, s.querySelectorAll('polyline.series, rect.bar').length]; })"
)


class BrowserMissing(Exception):
    """No Chromium on this machine (the message says how to install it)."""


class BrowserError(Exception):
    """Chromium did not start or did not load the page (the message says what it printed)."""


@dataclass
class Chart:
    width: float
    height: float
    marks: int  # lines and bars drawn


@dataclass
class PageCheck:
    path: Path
    title: str = ""
    charts: list[Chart] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    screenshot: Path | None = None

    @property
    def drawn(self) -> list[Chart]:
        """The charts with a size on the page and at least one mark in them."""
        return [c for c in self.charts if c.width > 0 and c.height > 0 and c.marks > 0]


def find_browser() -> str:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing(
        "no Chromium found (looked for " + ", ".join(CANDIDATES) + "); on Debian: "
        "apt-get install -y chromium"
    )


class _Session:
    """One DevTools connection: numbered commands, events kept until asked for."""

    def __init__(self, ws: Any, timeout: float) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._timeout = timeout
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + self._timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:  # events kept coming, the answer did not
                raise BrowserError(f"{method}: no answer within {self._timeout:.0f} s")
            answer = json.loads(self._ws.recv(timeout=left))
            if answer.get("id") == number:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                event = json.loads(self._ws.recv(timeout=left))
            except TimeoutError:
                return False
            if "method" in event:
                self.events.append(event)
        return True


def _problems(events: list[dict[str, Any]]) -> list[str]:
    problems = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "warning",
            "assert",
        ):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            problems.append(f"console.{params['type']}: {text}")
        elif event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"uncaught: {text}")
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            problems.append(f"{entry.get('source')}: {entry['text']} {entry.get('url', '')}")
    return problems


def check_page(path: Path, *, screenshot: Path | None = None, timeout: float = 60.0) -> PageCheck:
    """Load ``path`` headless and report what the browser saw (``BrowserError`` when it
    could not)."""
    browser = find_browser()
    # the browser's helpers (renderer, zygote) may still hold files in the profile as it goes
    with tempfile.TemporaryDirectory(
        prefix="parity-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "--window-size=1100,900", "about:blank",
        ]  # fmt: skip
        # its output to a file, read for the DevTools address: a pipe nobody drains after
        # that would fill with the browser's chatter and stall it
        output = Path(profile) / "chromium.log"
        with output.open("wb") as sink:
            proc = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            url = _devtools_url(proc, output, timeout)
            return _drive(url, path, screenshot, timeout)
        # the socket, a connection closed under us, an answer that is not JSON
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            raise BrowserError(f"talking to chromium failed: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the browser and every helper it started
            proc.wait(timeout=10)


def _devtools_url(proc: subprocess.Popen[bytes], output: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_text(errors="replace")
        match = _LISTENING.search(text)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise BrowserError(f"chromium ended ({proc.returncode}) before it listened:\n{text}")
        time.sleep(0.05)
    raise BrowserError(f"chromium did not listen within {timeout:.0f} s")


def _drive(url: str, path: Path, screenshot: Path | None, timeout: float) -> PageCheck:
    from websockets.sync.client import connect

    with connect(url, max_size=None, open_timeout=timeout) as ws:
        cdp = _Session(ws, timeout)
        target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
        session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            cdp.call(f"{domain}.enable", session)
        cdp.events.clear()  # about:blank's own load event is not the page's
        cdp.call("Page.navigate", session, url=path.resolve().as_uri())
        if not cdp.wait_for("Page.loadEventFired", timeout):
            raise BrowserError(f"{path} did not finish loading within {timeout:.0f} s")
        check = PageCheck(path)
        title = cdp.call("Runtime.evaluate", session, expression="document.title")
        check.title = str(title.get("result", {}).get("value", ""))
        charts = cdp.call("Runtime.evaluate", session, expression=_CHARTS_JS, returnByValue=True)
        check.charts = [Chart(*c) for c in charts.get("result", {}).get("value", [])]
        if screenshot is not None:
            size = cdp.call("Page.getLayoutMetrics", session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            shot = cdp.call(
                "Page.captureScreenshot", session, captureBeyondViewport=True, clip=clip
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            check.screenshot = screenshot
        check.errors = _problems(cdp.events)
        return check
