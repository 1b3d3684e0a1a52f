"""Staff invitations and activation (docs/rules/clinic.md): codes e-mailed through the outbox, single use, limited in
attempts, expiring; an existing account is added and notified instead."""

from __future__ import annotations

from email.header import decode_header, make_header

import httpx
import psycopg

from app.config import Settings
from tests.clinic_support import api, create_clinic, create_service
from tests.conftest import admin_login
from tests.support import (
    PASSWORD,
    SmtpServer,
    code_in,
    eventually,
    new_user,
    serve_app,
    unique_email,
    with_settings,
)


def _activation(email: str, code: str, **extra: str) -> dict[str, str]:
    return {"email": email, "code": code, "password": PASSWORD, "first_name": "Ana", "last_name": "Souza"} | extra


async def test_invited_admin_activates_with_the_emailed_code_once(settings: Settings, smtp: SmtpServer) -> None:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        admin = await admin_login(client)
        email = unique_email("medica")
        clinic = await create_clinic(client, admin, admin_email=email)
        assert clinic["admin_invitation"]["status"] == "invited"
        message = (await smtp.wait_for(email))[0]
        assert clinic["name"] in str(make_header(decode_header(message["Subject"])))
        code = code_in(message)
        # Not yet: the account exists but cannot log in.
        login = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert login.status_code == 401
        activated = await client.post("/api/v1/auth/activate", json=_activation(email, code, specialty="Clínica"))
        assert activated.status_code == 200, activated.text
        assert activated.json()["clinic_ids"] == [clinic["id"]]
        # Logged in by the cookie, as a clinic admin.
        assert (await client.get("/api/v1/users/me")).json()["name"] == "Ana Souza"
        rooms = await client.get(api(clinic["id"], "/staff"))
        assert rooms.status_code == 200, rooms.text
        assert [(s["email"], s["is_admin"], s["specialty"]) for s in rooms.json()["items"]] == [
            (email, True, "Clínica")
        ]
        client.cookies.clear()
        # Single use.
        again = await client.post("/api/v1/auth/activate", json=_activation(email, code))
        assert again.status_code == 400
        assert again.json()["extra"][0]["key"] == "code"
        login = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200


async def test_wrong_codes_are_limited_and_expired_codes_refused(settings: Settings, smtp: SmtpServer) -> None:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        service = await create_service(client, admin, clinic["id"], "CG")
        email = unique_email("enfermeiro")
        invited = await client.post(
            api(clinic["id"], "/staff/invitations"),
            json={"email": email, "name": "Enf", "service_ids": [service["id"]]},
            headers=admin.headers,
        )
        assert invited.status_code == 201, invited.text
        assert invited.json()["status"] == "invited"
        code = code_in((await smtp.wait_for(email))[0])
        wrong = "0" * 8 if code != "0" * 8 else "1" * 8
        for _ in range(5):
            response = await client.post("/api/v1/auth/activate", json=_activation(email, wrong))
            assert response.status_code == 400
        # Five wrong tries burned it: the right code no longer works.
        assert (await client.post("/api/v1/auth/activate", json=_activation(email, code))).status_code == 400
        pending = await client.get(api(clinic["id"], "/staff/invitations"), headers=admin.headers)
        assert pending.json()["items"] == []
        # A new invitation: a new code, which expires.
        await client.post(api(clinic["id"], "/staff/invitations"), json={"email": email}, headers=admin.headers)
        fresh = code_in((await smtp.wait_for(email, count=2))[1])
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            # 24 hours pass.
            await conn.execute(
                "UPDATE staff_invitations SET expires_at = now() - interval '1 second' WHERE lower(email) = lower(%s)",
                (email,),
            )
        assert (await client.post("/api/v1/auth/activate", json=_activation(email, fresh))).status_code == 400
        # Resend renews it.
        invitation_id = invited.json()["invitation"]["id"]
        listing = (await client.get(api(clinic["id"], "/staff/invitations"), headers=admin.headers)).json()
        pending_id = listing["items"][0]["id"]
        assert pending_id != invitation_id
        resent = await client.post(api(clinic["id"], f"/staff/invitations/{pending_id}/resend"), headers=admin.headers)
        assert resent.status_code == 200, resent.text
        newest = code_in((await smtp.wait_for(email, count=3))[2])
        ok = await client.post("/api/v1/auth/activate", json=_activation(email, newest))
        assert ok.status_code == 200, ok.text


async def test_existing_account_is_added_and_notified(settings: Settings, smtp: SmtpServer) -> None:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        someone = await new_user(client)
        response = await client.post(
            api(clinic["id"], "/staff/invitations"), json={"email": someone.email}, headers=admin.headers
        )
        assert response.status_code == 201
        assert response.json()["status"] == "added"
        message = (await smtp.wait_for(someone.email))[0]
        assert "added" in str(make_header(decode_header(message["Subject"])))
        assert (await client.get(api(clinic["id"], "/queue"), headers=someone.headers)).status_code == 200


async def test_invitation_waits_in_the_outbox_while_smtp_is_down(settings: Settings, smtp: SmtpServer) -> None:
    async with (
        serve_app(with_settings(settings, smtp_url=smtp.url)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=30) as client,
    ):
        admin = await admin_login(client)
        clinic = await create_clinic(client, admin)
        smtp.stop()
        email = unique_email("atendente")
        response = await client.post(
            api(clinic["id"], "/staff/invitations"), json={"email": email}, headers=admin.headers
        )
        assert response.status_code == 201

        async def failed_once() -> bool:
            async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
                row = await (
                    await conn.execute("SELECT deferrals, sent_at FROM outbox WHERE to_address = %s", (email,))
                ).fetchone()
            return row is not None and row[0] >= 1 and row[1] is None

        await eventually(failed_once, timeout=10)
        assert smtp.messages_to(email) == []
        smtp.start()
        code = code_in((await smtp.wait_for(email, timeout=20))[0])
        assert (await client.post("/api/v1/auth/activate", json=_activation(email, code))).status_code == 200
