"""A CarePlan a clinician reads in a browser: GET /fhir/CarePlan/{id} with Accept: text/html or
_format=html. Plain HTTP checks, escaping, and a real headless Chromium (Debian's `chromium`,
installed by .ci/run) that renders the page to a screenshot. Access rules and audit are those of
the JSON read (see also tests/test_security.py, whose tables include the page)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import httpx
import pytest

from app.triage.service import prepare
from tests.support import answers_with, post_triage, response, store_row

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
URGENT_WORDS = "Urgent: call the Appointment and Advice line today"


def test_page_by_accept_and_by_format(client):
    made = post_triage(client, response(answers_with(leg_weakness=True, injury=True))).json()
    path = f"/fhir/CarePlan/{made['id']}"
    for page in (
        client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}),
        client.get(path, params={"_format": "html"}),
    ):
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers it
        assert page.headers["cache-control"] == "no-store"
        text = page.text
        assert URGENT_WORDS in text and "(<code>urgent</code>)" in text
        assert "Weakness in the legs" in text and "Pain began after an injury" in text
        assert "<b>yes</b>" in text  # the answers behind the findings, with their questions
        assert "Rules version</dt><dd>1.0.0" in text
        assert "Status</dt><dd>active (proposal" in text
        assert "Call the Appointment and Advice line today" in text  # the plan
        assert "<script" not in text
    # FHIR clients still get JSON, and the two representations have distinct validators
    as_json = client.get(path, headers={"Accept": "application/fhir+json"})
    assert as_json.json()["resourceType"] == "CarePlan"
    page = client.get(path, params={"_format": "html"})
    assert page.headers["etag"] != as_json.headers["etag"]
    assert (
        client.get(path, params={"_format": "html"}, headers={"If-None-Match": page.headers["etag"]}).status_code == 304
    )


def test_html_only_where_a_page_is_served(client):
    made = post_triage(client, response()).json()
    encounter = made["encounter"]["reference"]
    assert client.get(f"/fhir/{encounter}", headers={"Accept": "text/html"}).status_code == 406
    assert client.get(f"/fhir/{encounter}", params={"_format": "html"}).status_code == 406
    assert client.get("/fhir/CarePlan", params={"_format": "html"}).status_code == 406
    missing = client.get("/fhir/CarePlan/none", params={"_format": "html"})
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_page_escapes_whatever_the_stored_careplan_holds(client, app):
    prepared = prepare(response(answers_with(leg_weakness=True), patient="p-esc"))
    careplan = prepared.row["careplan"]
    hostile = "<script>alert(1)</script>\"'&"
    careplan["note"] = [{"text": hostile}]
    careplan["subject"] = {"reference": "Patient/<img src=x onerror=alert(1)>"}
    detail = dict(careplan["activity"][0]["detail"])
    detail["description"] = hostile
    careplan["activity"][0] = {"detail": detail}
    store_row(app, prepared.row)
    text = client.get(f"/fhir/CarePlan/{careplan['id']}", params={"_format": "html"}).text
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;" in text


# --- a real browser -------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("PYTEST_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is required (PYTEST_REQUIRE_CHROMIUM=1) but not installed")
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does)")
    return found


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="lbp-chromium-") as profile:
        return subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


def _png_pixels(data: bytes, max_rows: int = 300) -> tuple[int, int, list[bytes]]:
    """Width, height and the top RGB rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
    step = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(b"".join(chunks)), width * step, [], bytearray(width * step)
    for y in range(min(height, max_rows)):  # the disposition leads the page
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - step] if x >= step else 0
            up, corner = previous[x], previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[x] = (line[x] + near[2]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r[i] for i in range(len(r)) if i % step < 3) for r in rows]


def _pixels_of(rows: list[bytes], rgb: tuple[int, int, int]) -> int:
    colour = bytes(rgb)
    return sum(1 for row in rows for i in range(0, len(row), 3) if row[i : i + 3] == colour)


def test_a_browser_renders_the_page(live_server, tmp_path: Path):
    made = httpx.post(
        f"{live_server}/fhir/QuestionnaireResponse/$triage",
        content=httpx.Request("POST", "/", json=response(answers_with(leg_weakness=True))).content,
        headers={"Content-Type": "application/fhir+json"},
    ).json()
    url = f"{live_server}/fhir/CarePlan/{made['id']}"
    # The browser's own Accept header (text/html first) is enough: no _format needed.
    dom = _run_chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert URGENT_WORDS in dom.stdout and 'id="disposition"' in dom.stdout
    assert "Weakness in the legs" in dom.stdout
    shot = tmp_path / "careplan.png"
    run = _run_chromium(f"--screenshot={shot}", "--window-size=800,600", f"{url}?_format=html")
    assert run.returncode == 0, run.stderr[-2000:]
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (800, 600)
    # The disposition box is drawn in the urgent colours (border #b00020 on #fde8ea): the
    # screenshot shows the urgent disposition, not a blank or an error page.
    assert _pixels_of(rows, (0xB0, 0x00, 0x20)) > 200  # an 8-pixel border down the box
    assert _pixels_of(rows, (0xFD, 0xE8, 0xEA)) > 5000  # the box itself
