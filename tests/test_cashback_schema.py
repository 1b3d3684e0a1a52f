"""The cashback schema as a DBA sees it: the tier table is data (edit it and the API follows), its rows may not
overlap, statuses are the challenge's three words, the migration rolls back cleanly, and the demo data is
idempotent."""

from __future__ import annotations

from decimal import Decimal

import httpx
import psycopg
import pytest

from app.cashback.demo import DEMO_PASSWORD, seed_demo
from app.config import Settings
from app.db.migrations import apply_migrations, rollback_migrations
from app.security import Passwords
from tests.cashback_upstream import decoded, new_reseller

CASHBACK_TABLES = {"resellers", "purchases", "cashback_tiers", "auto_approved_cpfs"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


async def test_a_dba_edits_the_tier_table_and_the_api_follows(client: httpx.AsyncClient, database_url: str) -> None:
    reseller = await new_reseller(client)
    response = await client.post(
        "/api/v1/purchases",
        json={"code": "T-1", "value": 200, "date": "2024-05-10", "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    assert decoded(response)["cashback_value"] == Decimal("20.00")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE cashback_tiers SET percent = 12.5 WHERE upper_bound = 1000.00")
    again = decoded(await client.get(f"/api/v1/purchases/{response.json()['id']}", headers=reseller.headers))
    assert again["cashback_percent"] == Decimal("12.5")
    assert again["cashback_value"] == Decimal("25.00")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO cashback_tiers (lower_bound, upper_bound, percent) VALUES (900, 1100, 12)",  # overlaps
        "INSERT INTO cashback_tiers (lower_bound, upper_bound, percent) VALUES (5000, NULL, 30)",  # inside (1500, ∞)
        "INSERT INTO cashback_tiers (lower_bound, upper_bound, percent) VALUES (10, 5, 1)",  # upside down
        "UPDATE cashback_tiers SET percent = 101",
        "INSERT INTO auto_approved_cpfs (cpf) VALUES ('123')",
    ],
)
def test_the_database_refuses_inconsistent_tiers(database_url: str, statement: str) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.IntegrityError):
        conn.execute(statement)


async def test_statuses_are_the_three_words(client: httpx.AsyncClient, database_url: str) -> None:
    reseller = await new_reseller(client)
    await client.post(
        "/api/v1/purchases",
        json={"code": "S-1", "value": 1, "date": "2024-05-10", "cpf": reseller.cpf},
        headers=reseller.headers,
    )
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE purchases SET status = 'Approved'")


def test_the_migration_rolls_back_and_applies_again(database_url: str) -> None:
    assert _tables(database_url) >= CASHBACK_TABLES
    rolled: list[str] = []
    while "0008_cashback" not in rolled:
        step = rollback_migrations(database_url, 1)
        assert step, "0008_cashback was never rolled back"
        rolled += step
    assert not CASHBACK_TABLES & _tables(database_url)
    apply_migrations(database_url)
    assert _tables(database_url) >= CASHBACK_TABLES
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM cashback_tiers").fetchone() == (3,)


async def test_demo_data_is_idempotent_and_logs_in_by_cpf(settings: Settings, client: httpx.AsyncClient) -> None:
    passwords = Passwords(settings)
    try:
        for _ in range(2):
            async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
                await seed_demo(conn, passwords)
    finally:
        passwords.close()
    login = await client.post("/api/v1/auth/token", data={"username": "153.509.460-56", "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    items = (await client.get("/api/v1/purchases", headers=headers)).json()["items"]
    assert len(items) == 3
    assert {p["status"] for p in items} == {"Aprovado"}
    other = await client.post(
        "/api/v1/auth/token", json={"email": "joao.revenda@example.com", "password": DEMO_PASSWORD}
    )
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    theirs = (await client.get("/api/v1/purchases", headers=other_headers)).json()["items"]
    assert len(theirs) == 2
    assert {p["status"] for p in theirs} == {"Em validação"}
