"""The launcher entry for real: Jupyter's server proxy starts the CMS under a path prefix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox_cms.data.build import fresh_copy

TOKEN = "sandbox-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # not listening yet
        return 0, str(exc)


@pytest.mark.slow
def test_jupyter_server_proxy_serves_the_cms_under_its_prefix(tmp_path: Path):
    db = fresh_copy(tmp_path / "sandbox.db")
    port = _free_port()
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {**os.environ, "SANDBOX_CMS_DB": str(db), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
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
        # The first request starts `sandbox-cms serve` on a port of the proxy's choosing.
        status, body = _get(f"{base}/sandbox-cms/customers?token={TOKEN}", timeout=60)
        assert status == 200, body[:500]
        assert 'data-purpose="customer_service"' in body
        assert 'href="/sandbox-cms/static/style.css"' in body
        assert 'href="/sandbox-cms/customers/1"' in body
        status, css = _get(f"{base}/sandbox-cms/static/style.css?token={TOKEN}")
        assert status == 200 and "body" in css
        assert _get(f"{base}/sandbox-cms/customers/999999?token={TOKEN}")[0] == 404
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
