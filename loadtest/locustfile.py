"""Mixed traffic for Locust (issue 6): every request carries its own data, every unexpected status is a failure.

Run it through the one documented command (it starts the server the production way and writes the reports):

    .venv/bin/python -m loadtest.run_locust --users 60 --time 5m           # a fresh server of our own
    .venv/bin/python -m loadtest.run_locust --host http://127.0.0.1:8000    # a running server (admin login below)

or by hand: `.venv/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --tags browse bidders`.

Scenarios (one User class each, selectable with `--tags`; weights give the mix):

- `pilltrackr` PillTrackrUser: `POST /api/v1/users {email, password}`, a new e-mail each time (PillTrackr's test).
- `browse` BrowserUser: signupuser, csrftoken + loginuser (cookie + CSRF), /users/me, the product list, and
  now and then logout + loginuser again; ApiClientUser: a bearer token, /users/me, products, one product, bids.
- `bidders` BidderUser: watches a product over WebSocket (bearer on the handshake) and bids on it; every other
  socket's kind 4 is counted as fan-out.
- `clinic` KioskUser: issues tickets (normal / preferential) and reads each by its public token; DeskUser: a
  staff member at a room (LOCUST_DESKS of them): call-next, start, finish (204 on an empty queue is fine);
  TvUser: the TV's display socket, counting the calls it receives and reconnecting with `?since=` every 30 s.
- `cashback` ResellerUser: registers with a valid random CPF, logs in by CPF, creates purchases, lists them,
  reads the accumulated cashback.

Setup (in `test_start`, through the API): the admin logs in (LOCUST_ADMIN_EMAIL / LOCUST_ADMIN_PASSWORD, which
run_locust gives the server it starts), a seller opens LOCUST_PRODUCTS auctions, the admin creates a clinic with
two services, LOCUST_DESKS rooms and as many staff members (each logged in by a token).
WebSocket traffic is reported to Locust's statistics as request type "WS" (connect, bid round trip) and counted
in `WS_RECEIVED`; a socket that closes or answers something unexpected is a failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import gevent
import websocket  # websocket-client: synchronous, cooperative under gevent's monkey patching
from gevent.queue import Empty, Queue
from locust import FastHttpUser, User, between, constant_pacing, events, tag, task
from locust.env import Environment
from locust.exception import StopUser

PASSWORD = "load test password 1"
PRODUCTS = int(os.environ.get("LOCUST_PRODUCTS", "20"))
DESKS = int(os.environ.get("LOCUST_DESKS", "4"))
WS_TIMEOUT = 10.0
# A service numbers at most 999 tickets a day (EN-001 .. EN-999, then 409): enough services for a long run.
SERVICE_PREFIXES = [f"{a}{b}" for a in "CEP" for b in "ABCDEFGH"]

# Filled by test_start, read by the users.
SETUP: dict[str, Any] = {}
# WebSocket messages received that are not replies to our own requests (kind 4 fan-out, TV calls), per kind.
WS_RECEIVED: Counter[str] = Counter()
_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}-{next(_counter)}"


def unique_email(prefix: str) -> str:
    return f"{unique(prefix)}@load.example.com"


def random_cpf() -> str:
    """11 digits with both check digits valid (never all the same digit)."""
    while True:
        digits = [random.randrange(10) for _ in range(9)]
        if len(set(digits)) > 1:
            break
    for length in (9, 10):
        total = sum(d * (length + 1 - i) for i, d in enumerate(digits))
        digits.append((total * 10 % 11) % 10)
    return "".join(map(str, digits))


def masked(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Setup through the API ------------------------------------------------------------------------------------------


def _call(session: Any, method: str, url: str, expected: int, **kwargs: Any) -> Any:
    response = session.request(method, url, timeout=60, **kwargs)
    if response.status_code != expected:
        raise RuntimeError(f"setup: {method} {url} answered {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def _token(session: Any, host: str, login: str) -> str:
    body = {"email": login, "password": PASSWORD}
    return _call(session, "POST", f"{host}/api/v1/auth/token", 200, json=body)["access_token"]


def _new_account(session: Any, host: str, prefix: str) -> tuple[str, str, str]:
    """(id, email, token) of a new user."""
    email = unique_email(prefix)
    user = _call(
        session,
        "POST",
        f"{host}/api/v1/users/signupuser",
        201,
        json={"user_name": prefix, "email": email, "password": PASSWORD},
    )
    return str(user["user_id"]), email, _token(session, host, email)


@events.test_start.add_listener
def _setup(environment: Environment, **_: Any) -> None:
    try:
        _make_setup_data(environment)
    except Exception as exc:
        # Without its data the run means nothing: say so, count it as a failure, and stop.
        environment.events.request.fire(
            request_type="SETUP", name="test_start", response_time=0, response_length=0, exception=exc, context={}
        )
        print(f"set-up failed: {exc!r}", flush=True)
        if environment.runner is not None:
            gevent.spawn_later(0.1, environment.runner.quit)


def _make_setup_data(environment: Environment) -> None:
    import requests

    host = (environment.host or "").rstrip("/")
    if not host:
        raise RuntimeError("give --host")
    admin_email = os.environ.get("LOCUST_ADMIN_EMAIL", "admin@localhost")
    admin_password = os.environ.get("LOCUST_ADMIN_PASSWORD", "")
    with requests.Session() as s:
        admin = bearer(
            _call(s, "POST", f"{host}/api/v1/auth/token", 200, json={"email": admin_email, "password": admin_password})[
                "access_token"
            ]
        )
        _, _, seller_token = _new_account(s, host, "seller")
        ends = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        products = [
            _call(
                s,
                "POST",
                f"{host}/api/v1/products",
                201,
                headers=bearer(seller_token),
                json={
                    "product_name": f"Lote {n} {unique('p')}",
                    "description": "Lote aberto pelo teste de carga",
                    "baseprice": 10 + n,
                    "auction_end": ends,
                },
            )["id"]
            for n in range(PRODUCTS)
        ]
        clinic = _call(
            s,
            "POST",
            f"{host}/api/v1/clinics",
            201,
            headers=admin,
            json={"name": "Clínica Carga", "slug": unique("carga"), "timezone": "America/Sao_Paulo"},
        )
        cid = clinic["id"]
        services = [
            _call(
                s,
                "POST",
                f"{host}/api/v1/clinics/{cid}/services",
                201,
                headers=admin,
                json={"name": f"Serviço {prefix}", "prefix": prefix, "route_text": f"Sala {prefix}"},
            )["id"]
            for prefix in SERVICE_PREFIXES
        ]
        desks = []
        for n in range(DESKS):
            _, email, token = _new_account(s, host, f"desk{n}")
            invited = _call(
                s,
                "POST",
                f"{host}/api/v1/clinics/{cid}/staff/invitations",
                201,
                headers=admin,
                json={"email": email, "is_admin": False, "service_ids": []},
            )
            assert invited["status"] == "added", invited
            room = _call(
                s, "POST", f"{host}/api/v1/clinics/{cid}/rooms", 201, headers=admin, json={"name": f"Sala {n}"}
            )
            _call(s, "POST", f"{host}/api/v1/clinics/{cid}/rooms/{room['id']}/take", 200, headers=bearer(token))
            desks.append(token)
    SETUP.update(products=products, clinic_id=cid, services=services, desks=Queue(items=desks))


# HTTP helpers ---------------------------------------------------------------------------------------------------


class ApiUser(FastHttpUser):
    abstract = True
    # A client must never get a 5xx, and each call states the statuses it may get: anything else is a failure.

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        expect: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> Any:
        with self.client.request(method, path, name=name or path, catch_response=True, **kwargs) as response:
            if response.status_code not in expect:
                response.failure(f"{response.status_code} (expected {expect}): {(response.text or '')[:200]}")
                return None
            response.success()
            if response.status_code == 204 or not response.content:
                return {}
            return response.json()


# PillTrackr: create users ---------------------------------------------------------------------------------------


@tag("pilltrackr")
class PillTrackrUser(ApiUser):
    weight = 2
    wait_time = between(0.5, 1.5)

    @task
    def create_user(self) -> None:
        self.call("POST", "/api/v1/users", json={"email": unique_email("pill"), "password": PASSWORD}, expect=(201,))


# Sign up, log in, browse ----------------------------------------------------------------------------------------


@tag("browse")
class BrowserUser(ApiUser):
    """A browser: cookie session, CSRF token on unsafe requests (Gobid's csrftoken -> loginuser sequence)."""

    weight = 3
    wait_time = between(0.2, 0.8)

    def on_start(self) -> None:
        self.email = unique_email("browser")
        body = {"user_name": "Navegadora", "email": self.email, "password": PASSWORD}
        self.call("POST", "/api/v1/users/signupuser", json=body, expect=(201,))
        self.csrf = (self.call("GET", "/api/v1/csrftoken") or {}).get("csrf_token", "")
        self.call(
            "POST",
            "/api/v1/users/loginuser",
            json={"email": self.email, "password": PASSWORD},
            headers={"X-CSRF-Token": self.csrf},
        )

    @task(4)
    def me(self) -> None:
        self.call("GET", "/api/v1/users/me")

    @task(4)
    def products(self) -> None:
        self.call("GET", f"/api/v1/products?limit={random.choice((10, 20, 50))}", name="/api/v1/products?limit=")

    @task(1)
    def relogin(self) -> None:
        """Log out and in again: a new session id each time (and one more argon2 verification)."""
        self.call("POST", "/api/v1/users/logout", headers={"X-CSRF-Token": self.csrf})
        self.call(
            "POST",
            "/api/v1/users/loginuser",
            json={"email": self.email, "password": PASSWORD},
            headers={"X-CSRF-Token": self.csrf},
        )


@tag("browse")
class ApiClientUser(ApiUser):
    """An API client with a bearer token reading auctions."""

    weight = 3
    wait_time = between(0.2, 0.8)

    def on_start(self) -> None:
        email = unique_email("api")
        self.call(
            "POST",
            "/api/v1/users/signupuser",
            json={"user_name": "Cliente", "email": email, "password": PASSWORD},
            expect=(201,),
        )
        token = (self.call("POST", "/api/v1/auth/token", json={"email": email, "password": PASSWORD}) or {}).get(
            "access_token"
        )
        self.headers = bearer(token or "none")

    @task(2)
    def me(self) -> None:
        self.call("GET", "/api/v1/users/me", headers=self.headers)

    @task(2)
    def products(self) -> None:
        self.call("GET", "/api/v1/products", headers=self.headers)

    @task(4)
    def product(self) -> None:
        product = random.choice(SETUP["products"])
        self.call("GET", f"/api/v1/products/{product}", name="/api/v1/products/{id}", headers=self.headers)

    @task(1)
    def bids(self) -> None:
        product = random.choice(SETUP["products"])
        self.call(
            "GET", f"/api/v1/products/{product}/bids?limit=20", name="/api/v1/products/{id}/bids", headers=self.headers
        )


# WebSocket users ------------------------------------------------------------------------------------------------


@dataclass
class Socket:
    """A websocket-client connection read by its own greenlet; replies wait in a queue, kinds are counted."""

    user: User
    url: str
    name: str
    header: list[str] = field(default_factory=list)
    replies: Queue = field(default_factory=Queue)
    ws: websocket.WebSocket | None = None
    reader: gevent.Greenlet | None = None
    closed_by_us: bool = False

    def report(self, name: str, started: float, exc: BaseException | None = None, length: int = 0) -> None:
        self.user.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def connect(self) -> dict[str, Any] | None:
        """Open the socket and wait for its first message (the snapshot); reported as 'connect'."""
        started = time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                self.url, header=self.header, timeout=WS_TIMEOUT, enable_multithread=True
            )
            first = json.loads(self.ws.recv())
        except Exception as exc:
            self.report(f"{self.name} connect", started, exc)
            return None
        self.report(f"{self.name} connect", started)
        self.reader = gevent.spawn(self._read)
        return first

    def _read(self) -> None:
        assert self.ws is not None
        self.ws.settimeout(None)
        try:
            while True:
                raw = self.ws.recv()
                if not raw:
                    break
                message = json.loads(raw)
                self.replies.put(message)
        except Exception as exc:
            if not self.closed_by_us:
                self.report(f"{self.name} closed", time.perf_counter(), exc)
        self.replies.put(None)

    def close(self) -> None:
        self.closed_by_us = True
        with contextlib.suppress(Exception):
            if self.ws is not None:
                self.ws.close(timeout=1)
        if self.reader is not None:
            self.reader.kill(block=False)


def _http_to_ws(host: str) -> str:
    return host.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")


_MINIMUM = re.compile(r"minimum is ([\d.]+)")


@tag("bidders")
class BidderUser(User):
    """Watches one auction over WebSocket and bids on it (bearer token on the handshake)."""

    weight = 3
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        import requests

        host = self.environment.host.rstrip("/")  # type: ignore[union-attr]
        with requests.Session() as s:
            try:
                _, _, token = _new_account(s, host, "bidder")
            except RuntimeError as exc:
                self.environment.events.request.fire(
                    request_type="WS",
                    name="bidder sign-up",
                    response_time=0,
                    response_length=0,
                    exception=exc,
                    context={},
                )
                raise StopUser() from exc
        product = random.choice(SETUP["products"])
        self.socket = Socket(
            self,
            f"{_http_to_ws(host)}/api/v1/products/ws/subscribe/{product}",
            "product socket",
            header=[f"Authorization: Bearer {token}"],
        )
        snapshot = self.socket.connect()
        if snapshot is None:
            raise StopUser()
        self.minimum = float(snapshot.get("minimum_bid") or snapshot.get("baseprice") or 1)

    def on_stop(self) -> None:
        self.socket.close()

    def _drain_fanout(self, message: dict[str, Any]) -> None:
        WS_RECEIVED[f"auction kind {message.get('kind')}"] += 1
        if message.get("minimum_bid") is not None:
            self.minimum = max(self.minimum, float(message["minimum_bid"]))

    @task
    def bid(self) -> None:
        amount = round(self.minimum + random.choice((0, 0, 1, 5)) + random.randrange(100) / 100, 2)
        started = time.perf_counter()
        try:
            assert self.socket.ws is not None
            self.socket.ws.send(json.dumps({"kind": 0, "amount": amount}))
        except Exception as exc:
            self.socket.report("bid", started, exc)
            raise StopUser() from exc
        deadline = started + WS_TIMEOUT
        while True:
            try:
                message = self.socket.replies.get(timeout=max(0.01, deadline - time.perf_counter()))
            except Empty:
                self.socket.report("bid", started, TimeoutError("no reply to the bid"))
                return
            if message is None:
                self.socket.report("bid", started, ConnectionError("socket closed"))
                raise StopUser()
            kind = message.get("kind")
            if kind == 4 or kind == 7:
                self._drain_fanout(message)
                continue
            if kind == 1:
                self.minimum = float(message.get("minimum_bid") or amount + 1)
                self.socket.report("bid accepted (kind 1)", started)
                return
            if kind == 2:
                # Another bidder got there first: a correct answer under contention, counted apart.
                found = _MINIMUM.search(message.get("message", ""))
                self.minimum = max(self.minimum, float(found.group(1)) if found else amount + 1)
                self.socket.report("bid refused as too low (kind 2)", started)
                return
            self.socket.report("bid", started, RuntimeError(f"unexpected message {message}"))
            return


@tag("clinic")
class TvUser(User):
    """The TV of the clinic: the display socket; counts calls; reconnects after a while (with ?since=)."""

    weight = 1
    wait_time = constant_pacing(1.0)

    def on_start(self) -> None:
        self._open()

    def _open(self, since: int | None = None) -> None:
        host = _http_to_ws(self.environment.host or "")
        query = f"?since={since}" if since is not None else ""
        self.socket = Socket(self, f"{host}/api/v1/clinics/{SETUP['clinic_id']}/ws/display{query}", "display socket")
        self.last_seq = since
        self.opened = time.monotonic()
        first = self.socket.connect()
        if first is None:
            raise StopUser()
        self.last_seq = first.get("seq", self.last_seq)

    def on_stop(self) -> None:
        self.socket.close()

    @task
    def watch(self) -> None:
        while True:
            try:
                message = self.socket.replies.get_nowait()
            except Empty:
                break
            if message is None:
                raise StopUser()
            WS_RECEIVED[f"display kind {message.get('type') or message.get('kind')}"] += 1
            self.last_seq = message.get("seq", self.last_seq)
        if time.monotonic() - self.opened > 30:  # a TV that reconnects (resuming where it stopped)
            self.socket.close()
            self._open(self.last_seq)


@tag("clinic")
class KioskUser(ApiUser):
    weight = 2
    wait_time = between(0.5, 1.5)

    @task
    def issue(self) -> None:
        body: dict[str, Any] = {
            "service_id": random.choice(SETUP["services"]),
            "priority": random.choice(("normal", "normal", "normal", "preferential")),
        }
        if random.random() < 0.5:
            body["patient_name"] = f"Paciente {unique('p')}"
        ticket = self.call(
            "POST",
            f"/api/v1/clinics/{SETUP['clinic_id']}/tickets",
            json=body,
            expect=(201,),
            name="/api/v1/clinics/{id}/tickets",
        )
        if ticket and ticket.get("public_token"):
            self.call(
                "GET",
                f"/api/v1/clinics/{SETUP['clinic_id']}/tickets/{ticket['public_token']}",
                name="/api/v1/clinics/{id}/tickets/{public_token}",
            )


@tag("clinic")
class DeskUser(ApiUser):
    """One staff member per room (LOCUST_DESKS of them): call the next patient, start, finish."""

    fixed_count = DESKS
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        try:
            self.headers = bearer(SETUP["desks"].get_nowait())
        except Empty:
            raise StopUser() from None  # more desk users than rooms

    @task
    def attend(self) -> None:
        base = f"/api/v1/clinics/{SETUP['clinic_id']}"
        called = self.call(
            "POST",
            f"{base}/desk/call-next",
            json={},
            expect=(200, 204),
            headers=self.headers,
            name="/api/v1/clinics/{id}/desk/call-next",
        )
        if not called or "id" not in called:
            return  # 204: nobody waiting
        step = called["id"]
        if (
            self.call(
                "POST",
                f"{base}/attendances/{step}/start",
                headers=self.headers,
                name="/api/v1/clinics/{id}/attendances/{id}/start",
            )
            is None
        ):
            return
        self.call(
            "POST",
            f"{base}/attendances/{step}/finish",
            headers=self.headers,
            name="/api/v1/clinics/{id}/attendances/{id}/finish",
        )


# Cashback resellers ---------------------------------------------------------------------------------------------


@tag("cashback")
class ResellerUser(ApiUser):
    weight = 2
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.cpf = random_cpf()
        email = unique_email("revenda")
        body = {"full_name": "Revendedora Carga", "cpf": masked(self.cpf), "email": email, "password": PASSWORD}
        self.call("POST", "/api/v1/resellers", json=body, expect=(201,))
        token = (self.call("POST", "/api/v1/auth/token", json={"email": self.cpf, "password": PASSWORD}) or {}).get(
            "access_token"
        )
        self.headers = bearer(token or "none")

    @task(3)
    def purchase(self) -> None:
        # At least a day back: the server judges "not in the future" in its APP_TIMEZONE, which may be behind
        # this machine's date (São Paulo is 3 hours behind UTC).
        day = date.today() - timedelta(days=1 + random.randrange(60))
        body = {
            "code": unique("NF"),
            "value": round(random.uniform(10, 900), 2),
            "date": day.isoformat(),
            "cpf": self.cpf,
        }
        self.call("POST", "/api/v1/purchases", json=body, expect=(201,), headers=self.headers)

    @task(2)
    def purchases(self) -> None:
        self.call("GET", "/api/v1/purchases?limit=20", name="/api/v1/purchases?limit=", headers=self.headers)

    @task(1)
    def cashback(self) -> None:
        self.call("GET", "/api/v1/cashback", headers=self.headers)


# Reporting ------------------------------------------------------------------------------------------------------

_received_lock = threading.Lock()


@events.quitting.add_listener
def _write_ws_counts(environment: Environment, **_: Any) -> None:
    """WebSocket messages received (fan-out), for run_locust's summary."""
    target = os.environ.get("LOCUST_WS_COUNTS")
    if target:
        with _received_lock, open(target, "w") as out:
            json.dump(dict(WS_RECEIVED), out)
