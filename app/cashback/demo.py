"""Demo data for `app seed --demo`: two resellers with purchases across two months, idempotently.

Logins (e-mail or CPF, password `reseller demo 1`): maria.revenda@example.com / 153.509.460-56 (a CPF whose
purchases are approved automatically) and joao.revenda@example.com / 529.982.247-25.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from app.cashback.repository import CashbackRepository
from app.users.repository import UsersRepository

DEMO_PASSWORD = "reseller demo 1"  # hashed like any password before it is stored

_RESELLERS = [
    ("Maria Revendedora", "maria.revenda@example.com", "15350946056", "DEMO-MARIA", ["700.00", "500.00", "320.50"]),
    ("João Revendedor", "joao.revenda@example.com", "52998224725", "DEMO-JOAO", ["1600.00", "89.90"]),
]


def _months_back(today: dt.date, months: int) -> dt.date:
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    return dt.date(year, month + 1, 1)


async def seed_demo(conn: AsyncConnection[Any], passwords: Any) -> None:
    users = UsersRepository(conn)
    cashback = CashbackRepository(conn)
    today = dt.date.today()
    for name, email, cpf, prefix, values in _RESELLERS:
        account = await users.user_by_email(email)
        if account is None:
            user_id = await users.create_user(email=email, password_hash=await passwords.hash(DEMO_PASSWORD), name=name)
            assert user_id is not None
            await cashback.create_reseller(user_id, cpf)
        # Purchases this month and last month; a code that exists already is left as it is.
        for index, value in enumerate(values):
            day = _months_back(today, index % 2) + dt.timedelta(days=index)
            await cashback.create_purchase(
                code=f"{prefix}-{index + 1:04d}", value=Decimal(value), purchased_on=min(day, today), cpf=cpf
            )
