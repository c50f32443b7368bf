"""Opening an HTML report in headless Chromium (the Debian package; skipped without it): a script
injected as the first element of its ``<head>`` records script errors, files the page loads or
refers to (anything but ``data:`` URIs), and how many ``<img>`` decoded; a screenshot must not be
blank. Shared by the report tests."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHECK = """<script>(function(){var errs=[];
window.onerror=function(m,s,l){errs.push(String(m)+" @"+l);};
window.addEventListener("error",function(e){var t=e.target;if(t&&t.tagName){errs.push("failed "+t.tagName);}},true);
window.addEventListener("load",function(){var im=Array.prototype.slice.call(document.images);
var res=performance.getEntriesByType("resource").map(function(r){return r.name;});
document.querySelectorAll("link[href],script[src],img[src],iframe[src],source[src],embed[src],object[data]")
.forEach(function(e){res.push(e.getAttribute("href")||e.getAttribute("src")||e.getAttribute("data"));});
res=res.filter(function(n){return n.indexOf("data:")!==0;});
var pre=document.createElement("pre");pre.id="cisgram-check";
pre.textContent=JSON.stringify({images:im.length,loaded:im.filter(function(i){return i.complete&&i.naturalWidth>0;}).length,
errors:errs,external:res});document.body.appendChild(pre);});})();</script>"""


def _browser() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.skip("headless Chromium not installed (Debian package chromium; .ci/run installs it)")


def _chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def check_in_browser(report: Path, tmp_path: Path) -> dict:
    """Open a copy of ``report`` with the check script injected; return what it recorded."""
    browser = _browser()
    text = report.read_text()
    assert text.count("<head>") == 1
    page = tmp_path / f"checked_{report.name}"
    # a byte-order mark keeps the page UTF-8 although the script pushes its <meta charset> down
    page.write_text("\ufeff" + text.replace("<head>", "<head>" + CHECK, 1), encoding="utf-8")
    r = _chromium(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="cisgram-check">(.*?)</pre>', r.stdout, re.S)
    assert found, f"no check result in the dumped DOM (exit {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def assert_renders(report: Path, tmp_path: Path) -> dict:
    got = check_in_browser(report, tmp_path)
    assert got["images"] >= 1
    assert got["loaded"] == got["images"], got
    assert got["errors"] == [], got
    assert got["external"] == [], got  # self-contained: nothing fetched
    return got


def assert_screenshot_not_blank(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    r = _chromium(_browser(), tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri())
    assert shot.exists(), r.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 10  # None: more colours than maxcolors
