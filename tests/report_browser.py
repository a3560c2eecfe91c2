"""Open a report page in headless Chromium (the Debian package `setup.sh` installs) and say what
the browser saw: images decoded and drawn, in-page links that land, resources fetched from outside.

Shared by the report tests (a campaign-like workflow) and the demo check (the real demo campaign).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: Injected before ``</body>``: on load, writes what the page holds into ``<pre id="bzs-check">``.
CHECK_SCRIPT = """<script>window.addEventListener('load', () => {
  const images = [...document.images];
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const result = {
    n_images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    widths: images.map(i => i.naturalWidth),
    n_links: links.length,
    bad_links: links.filter(h => !h.startsWith('#') || !document.getElementById(decodeURIComponent(h.slice(1)))),
    resources: performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:')),
    title: document.title,
  };
  const pre = document.createElement('pre');
  pre.id = 'bzs-check';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});</script>"""


def chromium() -> str | None:
    """The Chromium executable, or None."""
    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


def open_in_chromium(page: str, tmp_path: Path) -> dict:
    """Load ``page`` (HTML text) in headless Chromium; the check script's findings (``n_images``,
    ``broken``, ``widths`` px, ``n_links``, ``bad_links``, ``resources``, ``title``). Skips the test
    when no Chromium is installed; fails when the page does not load."""
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (setup.sh installs the Debian package `chromium`)")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom", checked.as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'<pre id="bzs-check">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"the page did not load (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
