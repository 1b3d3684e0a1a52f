"""Secrets never reach the log outside development (issue 11, finding 8): production refuses to start without
SMTP_URL and ALLOWED_ORIGINS, so one-time codes go to the SMTP server, never to the log; tokens, codes and the
ticket's public token (in its path) appear in no log line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.config import ConfigError, Settings, settings_from_env
from tests.clinic_support import api, create_clinic, create_service, issue
from tests.conftest import admin_login
from tests.support import (
    PASSWORD,
    ROOT,
    SmtpServer,
    bearer_login,
    code_in,
    create_account,
    serve_app,
    start_server_process,
    unique_email,
    with_settings,
)

SECRET = "p" * 48
PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": SECRET}


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"ALLOWED_ORIGINS": "https://shop.example.com"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://127.0.0.1:25"}, "ALLOWED_ORIGINS"),
    ],
)
def test_production_refuses_to_start_without_smtp_and_allowed_origins(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_from_env(PRODUCTION | environ)
    # `app` says so in one line and stops before touching anything.
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"} | PRODUCTION | environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


async def test_production_logs_carry_no_token_code_or_ticket_token(
    settings: Settings, smtp: SmtpServer, tmp_path: Path
) -> None:
    production = with_settings(
        settings,
        env="production",
        secret_key=SECRET,
        smtp_url=smtp.url,
        allowed_origins=("https://shop.example.com",),
        cookie_secure=True,
        access_log=True,
        log_level="INFO",
    )
    server = await start_server_process(production, tmp_path, name="production")
    secrets: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            admin = await admin_login(client)
            assert admin.token
            secrets.append(admin.token)
            account = await bearer_login(client, await create_account(client))
            assert account.token
            secrets.append(account.token)

            # A password-reset code, used.
            assert (await client.post("/api/v1/auth/password-reset", json={"email": account.email})).status_code == 202
            reset_code = code_in((await smtp.wait_for(account.email))[0])
            secrets.append(reset_code)
            confirm = await client.post(
                "/api/v1/auth/password-reset/confirm",
                json={"email": account.email, "code": reset_code, "new_password": "another good password"},
            )
            assert confirm.status_code == 200, confirm.text

            # An invitation (activation) code, used: the answer carries a session cookie.
            invited = unique_email("convidada")
            clinic = await create_clinic(client, admin, admin_email=invited)
            invitation_code = code_in((await smtp.wait_for(invited))[0])
            secrets.append(invitation_code)
            activated = await client.post(
                "/api/v1/auth/activate",
                json={
                    "email": invited,
                    "code": invitation_code,
                    "password": PASSWORD,
                    "first_name": "Ana",
                    "last_name": "Souza",
                },
            )
            assert activated.status_code == 200, activated.text
            session = activated.cookies.get("session") or next(iter(activated.cookies.values()))
            secrets.append(session)

            # A ticket, followed by its public token (in the path), and a wrong token too.
            service = await create_service(client, admin, clinic["id"], "A")
            ticket = await issue(client, clinic["id"], service["id"], headers=admin.headers)
            secrets.append(ticket["public_token"])
            followed = await client.get(api(clinic["id"], f"/tickets/{ticket['public_token']}"))
            assert followed.status_code == 200, followed.text
            guessed = "g" * 30
            secrets.append(guessed)
            assert (await client.get(api(clinic["id"], f"/tickets/{guessed}"))).status_code == 404
    finally:
        server.stop()
    log = server.log()
    assert f"/api/v1/clinics/{clinic['id']}/tickets" in log  # the access log was on
    leaked = [secret for secret in secrets if secret in log]
    assert not leaked, f"secrets in the production log: {leaked}"


async def test_development_says_at_start_that_the_log_is_its_mail_sink(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings.smtp_url is None
    async with serve_app(settings) as srv, httpx.AsyncClient(base_url=srv.url) as http:
        assert (await http.get("/health")).status_code == 200
    assert "SMTP_URL is not set: e-mail is written to this log" in capsys.readouterr().err
