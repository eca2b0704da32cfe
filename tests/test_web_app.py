"""The web app's shell: factory, error pages, CSRF, security headers, path prefix, serve, proxy."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main as cli
from sandbox_cms.core.errors import NotASandbox
from sandbox_cms.web import create_app
from sandbox_cms.web.proxy import setup_sandbox_cms


def message(response) -> str:
    match = re.search(r'class="message">(.*?)</p>', response.get_data(as_text=True), re.S)
    return match.group(1) if match else ""


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_missing_database_is_refused_with_a_clear_error(tmp_path: Path):
    with pytest.raises(NotASandbox, match="no sandbox database"):
        create_app(tmp_path / "nothing.db")


def test_health_check_needs_no_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"


def test_every_page_sends_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script may run
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_page_is_a_404_page(client, rendered):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert rendered[-1][0] == "error.html"
    assert rendered[-1][1]["status"] == 404
    assert "Traceback" not in response.get_data(as_text=True)


def test_wrong_method_is_a_405_page_with_allow_header(client):
    response = client.post("/customers")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "405" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, db_path: Path):
    before = count(db_path, "audit_log")
    clock = sqlite3.connect(db_path).execute(
        "SELECT value FROM meta WHERE key = 'clock_now'").fetchone()[0]
    response = client.post("/time", data={"action": "advance", "days": "30"})
    assert response.status_code == 400
    assert "security token" in message(response)
    assert count(db_path, "audit_log") == before
    assert sqlite3.connect(db_path).execute(
        "SELECT value FROM meta WHERE key = 'clock_now'").fetchone()[0] == clock


def test_post_with_a_wrong_csrf_token_is_refused(client):
    client.get("/time")  # the session gets its token
    response = client.post("/time", data={"action": "advance", "days": "1",
                                          "csrf_token": "forged"})
    assert response.status_code == 400
    assert "security token" in message(response)


def test_csrf_token_from_the_form_is_accepted(client):
    page = client.get("/time").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/time", data={"action": "advance", "days": "1", "csrf_token": token})
    assert response.status_code == 303


def test_an_unexpected_error_is_a_plain_500_page(db_path: Path):
    app = create_app(db_path)  # not TESTING: errors are handled as in production

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "internal error" in body
    assert "secret internals" not in body and "Traceback" not in body


def test_too_large_a_body_is_refused(client):
    response = client.post("/my-data", data={"email": "x" * 100_000})
    assert response.status_code == 413


def test_links_keep_the_prefix_sent_by_the_proxy(client):
    response = client.get("/customers", headers={"X-Forwarded-Prefix": "/user/ann/sandbox-cms"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/user/ann/sandbox-cms/static/style.css"' in body
    assert 'href="/user/ann/sandbox-cms/customers/1"' in body
    assert 'action="/user/ann/sandbox-cms/customers"' in body


def test_links_keep_a_wsgi_script_name(client):
    response = client.get("/register", base_url="http://localhost/sandbox-cms")
    assert response.status_code == 200
    assert 'href="/sandbox-cms/audit"' in response.get_data(as_text=True)


def test_redirect_after_post_keeps_the_prefix(client):
    prefix = {"X-Forwarded-Prefix": "/proxy/9"}
    page = client.get("/time", headers=prefix).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/time", headers=prefix,
                           data={"action": "advance", "days": "2", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/proxy/9/time")


def test_serve_binds_to_loopback_by_default():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output


def test_serve_refuses_a_missing_database_with_one_line(tmp_path: Path):
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.db"), "--port", "0"])
    assert result.exit_code == 1
    assert "no sandbox database" in result.output
    assert "Traceback" not in result.output


def test_proxy_launcher_entry_starts_serve_on_the_proxy_port():
    config = setup_sandbox_cms()
    command = config["command"]
    assert command[1] == "serve"
    assert command[command.index("--port") + 1] == "{port}"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert config["launcher_entry"]["title"] == "Sandbox CMS"
    assert Path(config["launcher_entry"]["icon_path"]).is_file()
    assert config["absolute_url"] is False  # the app gets X-Forwarded-Prefix instead


def test_proxy_entry_point_is_registered():
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group="jupyter_serverproxy_servers")}
    assert names.get("sandbox-cms") == "sandbox_cms.web.proxy:setup_sandbox_cms"


def test_proxy_serves_the_learners_own_sandbox(monkeypatch, tmp_path: Path):
    from sandbox_cms.web.proxy import default_db

    for name in ("SANDBOX_CMS_DB", "SANDBOX_DB", "PRIVACY_COURSE_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIVACY_COURSE_WORKSPACE", str(tmp_path))
    assert default_db() == str(tmp_path / "sandbox.db")
    monkeypatch.setenv("SANDBOX_DB", "/course/learner.db")
    assert default_db() == "/course/learner.db"
    monkeypatch.setenv("SANDBOX_CMS_DB", "/chosen.db")
    assert setup_sandbox_cms()["command"][3] == "/chosen.db"


def test_other_requests_use_the_database_while_the_dashboard_summarises(app, monkeypatch):
    # The retention summary reads every customer's orders; meanwhile the app's database lock
    # is free, so another request (its own thread and sandbox) runs to the end.
    import threading

    from sandbox_cms.privacy.retention import RetentionSchedule

    summary = RetentionSchedule.summary
    during: list[int] = []

    def slow_summary(self, *args, **kwargs):
        def other() -> None:
            during.append(app.test_client().get("/customers").status_code)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=20)  # without the lock released this would wait for us: deadlock
        return summary(self, *args, **kwargs)

    monkeypatch.setattr(RetentionSchedule, "summary", slow_summary)
    assert app.test_client().get("/").status_code == 200
    assert during == [200]


def test_a_snapshot_sees_one_state_while_others_write(db_path: Path):
    from sandbox_cms.web.sandbox import snapshot, use_wal

    use_wal(str(db_path))
    reader = sqlite3.connect(db_path, isolation_level=None)
    writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        before = reader.execute("SELECT count(*) FROM products").fetchone()[0]
        with snapshot(reader):
            assert reader.execute("SELECT count(*) FROM products").fetchone()[0] == before
            writer.execute("INSERT INTO products (sku, name, category, price_cents, "
                           "warranty_months, provenance_id) "
                           "VALUES ('SNAP-1', 'Snapshot', 'test', 1, 0, 1)")
            assert reader.execute("SELECT count(*) FROM products").fetchone()[0] == before
        assert not reader.in_transaction
        assert reader.execute("SELECT count(*) FROM products").fetchone()[0] == before + 1
    finally:
        reader.close()
        writer.close()
