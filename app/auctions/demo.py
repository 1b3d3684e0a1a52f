"""Demo data for `app seed --demo`: a seller, two bidders and a few auctions with bids. Idempotent: products
have fixed ids, and an existing one is left as it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from app.auctions.repository import AuctionsRepository
from app.auctions.service import place_bid
from app.security import Passwords
from app.users.repository import UsersRepository

DEMO_PASSWORD = "demo password 1"
_NAMESPACE = uuid.UUID("6f1c9a52-3d5e-4f43-9b7e-2a1d0c8e5b71")

_PEOPLE = [
    ("ana.vendedora@example.com", "Ana Vendedora"),
    ("bruno.comprador@example.com", "Bruno Comprador"),
    ("carla.compradora@example.com", "Carla Compradora"),
]

# name, description, base price, increment, hours to the end, anti-sniping seconds, bids (bidder index, amount)
_PRODUCTS = [
    (
        "Bicicleta aro 29",
        "Mountain bike, 21 marchas, freio a disco, pouco uso.",
        "850.00",
        "10.00",
        48,
        60,
        [(1, "850.00"), (2, "870.00"), (1, "900.00")],
    ),
    (
        "Violão Giannini",
        "Violão acústico de cordas de aço com capa acolchoada.",
        "320.00",
        "5.00",
        24,
        30,
        [(2, "320.00")],
    ),
    ("Câmera analógica", "Câmera 35 mm dos anos 80, testada, com lente 50 mm f/1.8.", "450.00", "1.00", 72, 0, []),
]


async def _user_id(users: UsersRepository, passwords: Passwords, email: str, name: str) -> Any:
    created = await users.create_user(email=email, password_hash=await passwords.hash(DEMO_PASSWORD), name=name)
    if created is not None:
        return created
    existing = await users.user_by_email(email)
    assert existing is not None  # create_user found the address taken
    return existing.id


async def seed_demo(conn: AsyncConnection[Any], passwords: Passwords) -> None:
    users = UsersRepository(conn)
    people = [await _user_id(users, passwords, email, name) for email, name in _PEOPLE]
    auctions = AuctionsRepository(conn)
    now = datetime.now(UTC)
    for name, description, base, increment, hours, extend, bids in _PRODUCTS:
        product_id = await auctions.create_product_with_id(
            id=uuid.uuid5(_NAMESPACE, name),
            seller_id=people[0],
            product_name=name,
            description=description,
            baseprice=Decimal(base),
            min_increment=Decimal(increment),
            auction_end=now + timedelta(hours=hours),
            extend_seconds=extend,
        )
        if product_id is None:
            continue  # seeded before
        for bidder, amount in bids:
            # Seed data has no session to check: nobody is logged in.
            await place_bid(conn, product_id, people[bidder], Decimal(amount), session_hash=None, idle_seconds=0)
    await conn.commit()
