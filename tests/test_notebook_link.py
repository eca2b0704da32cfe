"""One sandbox, two views (issue 12, item 4): a notebook's own sandbox served by the web CMS.

A real waitress server on loopback (sandbox_cms.web.link): what the notebook does through the
Python API shows on the web pages at the next load; the link under Jupyter is the server
proxy's ``<base_url>proxy/<port>/`` and the pages keep that prefix; the server stops with
the sandbox, with the kernel, and never makes a notebook cell fail. The last test drives a
real Chromium through a real Jupyter server's proxy.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox_cms import fresh_sandbox
from sandbox_cms.web import link as link_module
from sandbox_cms.web.link import jupyter_base_url, show_in_browser


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # not listening
        return 0, str(exc)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def cms(tmp_path: Path):
    sandbox = fresh_sandbox(scenario="webshop", customers=50, path=tmp_path / "nb.db")
    yield sandbox
    sandbox.close()


def test_a_write_in_the_notebook_shows_on_the_customer_and_audit_pages(cms) -> None:
    link = show_in_browser(cms)
    assert link.running and link.error is None
    assert link.url == link.local_url == f"http://127.0.0.1:{link.port}/"  # no Jupyter here
    # The web side opens its connections first, then the notebook writes.
    status, before = _get(link.url + "customers/3?purpose=customer_service")
    assert status == 200 and "Notebookstad" not in before
    assert _get(link.url + "audit")[0] == 200
    with cms.processing("customer_service") as p:
        p.execute("UPDATE customers SET city = ? WHERE id = ?", ("Notebookstad", 3),
                  customer_ids=[3])
    written = next(e for e in reversed(cms.audit.entries()) if e.actor == "learner")
    status, after = _get(link.url + "customers/3?purpose=customer_service")
    assert status == 200 and "Notebookstad" in after
    status, audit = _get(link.url + "audit?purpose=customer_service")
    assert status == 200
    row = audit[audit.index(f'<tr data-seq="{written.seq}">'):]
    row = row[:row.index("</tr>")]
    assert "learner" in row and "customer_service" in row and written.action in row
    # the clock too: the page header shows the notebook's clock after a move
    cms.clock.advance(days=400)
    assert cms.clock.now().strftime("%Y-%m-%d") in _get(link.url + "time")[1]


def test_under_jupyter_the_link_goes_through_the_proxy_and_the_pages_keep_its_prefix(
        cms) -> None:
    link = show_in_browser(cms, base_url="/user/alice")
    prefix = f"/user/alice/proxy/{link.port}"
    assert link.proxy_url == link.url == prefix + "/"
    shown = link._repr_html_()
    for page in ("", "customers", "audit"):
        assert f'href="{prefix}/{page}"' in shown
    assert f"http://127.0.0.1:{link.port}/" in shown and 'target="_blank"' in shown
    # jupyter-server-proxy strips /proxy/<port> and sends it as X-Forwarded-Prefix
    status, page = _get(link.local_url + "customers", {"X-Forwarded-Prefix": prefix})
    assert status == 200
    assert f'href="{prefix}/customers/1"' in page and f'href="{prefix}/static/style.css"' in page


def test_the_base_url_is_found_from_the_hub_prefix_and_is_none_outside_jupyter(
        monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/bob")
    assert jupyter_base_url() == "/user/bob/"
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX")
    import ipykernel  # noqa: F401 - imported (as by nbclient or a test) is not "in a kernel"

    assert jupyter_base_url() is None


def test_in_a_real_kernel_the_link_goes_through_the_proxy(tmp_path) -> None:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        shown: list[str] = []
        client.execute_interactive(
            "from sandbox_cms.web.link import jupyter_base_url\nprint(jupyter_base_url())",
            timeout=60, output_hook=lambda msg: shown.append(msg["content"].get("text", "")))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert "".join(shown).strip() == "/"  # no Jupyter server found: its default base URL


def test_one_server_per_sandbox_stopped_when_the_sandbox_closes(cms, tmp_path) -> None:
    link = show_in_browser(cms)
    assert show_in_browser(cms) is link
    assert _get(link.url + "healthz")[0] == 200
    cms.reopen()  # a restore reopens the file: the server goes on
    assert link.running and _get(link.url + "healthz")[0] == 200
    cms.close()
    assert not link.running and not _listening(link.port)
    assert link not in link_module._LINKS.values()
    assert "stopped" in link._repr_html_()
    assert not (tmp_path / "nb.db-wal").exists()  # every connection closed cleanly


def test_a_dropped_sandbox_stops_its_server(tmp_path) -> None:
    sandbox = fresh_sandbox(scenario="webshop", customers=20, path=tmp_path / "gc.db")
    link = show_in_browser(sandbox)
    port = link.port
    del sandbox
    gc.collect()
    assert not link.running and not _listening(port)


def test_a_server_that_cannot_start_says_why_instead_of_failing_the_cell(cms) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        link = show_in_browser(cms, port=busy.getsockname()[1])
    assert link.error and not link.running
    assert "could not start" in str(link) and "could not start" in link._repr_html_()


def test_the_server_stops_when_the_kernel_exits(tmp_path) -> None:
    script = textwrap.dedent(f"""
        from sandbox_cms import fresh_sandbox
        from sandbox_cms.web.link import show_in_browser
        cms = fresh_sandbox(customers=20, path={str(tmp_path / "k.db")!r})
        link = show_in_browser(cms)
        print(link.port, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert not _listening(int(done.stdout.split()[-1]))
    assert not (tmp_path / "k.db-wal").exists()


# -- through Jupyter's server proxy, in a real browser ---------------------------------------

TOKEN = "notebook-link-token"
CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyter(tmp_path: Path):
    port = _free_port()
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    log = tmp_path / "jupyter.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(jupyter), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={tmp_path}", "--ServerApp.allow_root=True"],
            stdout=sink, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{base}/api/status?token={TOKEN}", timeout=2)[0] != 200:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
@pytest.mark.browser
def test_a_browser_opens_the_notebooks_sandbox_through_the_proxy_and_sees_its_action(
        cms, jupyter) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    link = show_in_browser(cms, base_url="/")  # the kernel's Jupyter server serves at /
    assert link.proxy_url == f"/proxy/{link.port}/"
    status, _ = _get(f"{jupyter}{link.proxy_url}healthz?token={TOKEN}")
    assert status == 200  # jupyter-server-proxy reaches the notebook's server
    # The notebook's action: a mailing to customers 1 and 2.
    allowed = sorted(cms.consent.allowed_customers("newsletter"))[:2]
    with cms.processing("newsletter") as p:
        mailing = p.send_mailing(allowed, subject="Seen in the browser")
    sent = next(e for e in reversed(cms.audit.entries()) if e.purpose == "newsletter"
                and e.action != "read")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(f"{jupyter}{link.proxy_url}?token={TOKEN}")  # the dashboard
            assert page.locator("h1").inner_text() == "Dashboard"
            chart = page.locator("#retention-chart svg")  # drawn under the app's CSP
            assert chart.is_visible() and chart.bounding_box()["height"] > 50
            assert page.locator("#retention-chart rect[data-mark=bar]").count() >= 2
            page.click(f'a[href="{link.proxy_url}audit"]')  # a link the app made
            page.wait_for_url(f"**{link.proxy_url}audit")
            row = page.locator(f'tr[data-seq="{sent.seq}"]')
            assert row.count() == 1
            text = row.inner_text()
            assert "learner" in text and "newsletter" in text and sent.action in text
            assert str(mailing) in text or ", ".join(map(str, allowed)) in text
        finally:
            browser.close()
