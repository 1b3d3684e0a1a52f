"""The auction socket's wire format, in one place: each message kind's number, name and shape (Gobid's kinds 0-7,
and our 8; docs/rules/auctions.md, "Message kinds"). A bidder appears by their number in the auction (`bidder`,
`current_bidder`, `winner`: "Licitante 3" on the page), the per-auction pseudonym watchers are shown. Its user
id (`user_id`, `current_bidder_id`, `winner_id`) is null except for that bidder's own sockets and the seller's
(app/auctions/privacy.py): a socket's variant of an event is picked in app/auctions/feed.py.

| kind | Struct           | sent                 | built by                                                      |
|------|------------------|----------------------|---------------------------------------------------------------|
| 0    | `SocketBid`      | client -> server     | the client (the only command)                                 |
| 1    | `BidAccepted`    | to the bidder        | `render_event`: kind 4 as the socket that placed the bid sees it |
| 2    | `BidRefused`     | to the bidder        | app/auctions/feed.py                                          |
| 3    | `InvalidMessage` | to the sender        | app/auctions/feed.py                                          |
| 4    | `NewBid`         | event                | sql/auctions.sql place_bid (inside the bid's one round trip)  |
| 5    | `Finished`       | event; final message | app/auctions/service.py (closed, cancelled); feed.py          |
| 6    | `Snapshot`       | on connect           | app/auctions/feed.py                                          |
| 7    | `Extended`       | event                | sql/auctions.sql place_bid (anti-sniping moved the end)       |
| 8    | `BidsWithdrawn`  | event                | app/auctions/service.py (a bidder's account was closed)       |

An event (kinds 4, 5, 7, 8) is stored as its payload (the Struct below, `kind` first) and sent with the event's
`seq` added; kind 1 carries the seq of the kind 4 it replaces, kind 6 the seq it describes (and `reset: true`
when the socket's `?since=` could not be replayed: app/realtime/feed.py). tests/test_auctions_wire.py decodes
what SQL builds and what sockets receive with these Structs, so a field added in one place and not here fails.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import msgspec

from app.auctions.schemas import Status
from app.web.types import Money, Strict

BID_ACCEPTED = 1
BID_REFUSED = 2
INVALID_MESSAGE = 3
NEW_BID = 4
FINISHED = 5
SNAPSHOT = 6
EXTENDED = 7
BIDS_WITHDRAWN = 8  # ours, not Gobid's: a deactivated bidder's bids left the auction (docs/security.md)


class SocketBid(Strict):
    """Kind 0, `{"kind": 0, "amount": 105.50}`: the only command a client sends over the socket."""

    kind: Literal[0]
    amount: Money


class Message(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """A message the server sends; its `kind` is the Struct's tag. A field with a default is left out when it
    has its default (kind 2's amount, kind 4's origin)."""


class BidAccepted(Message, tag=BID_ACCEPTED):
    """Kind 4 as the socket that placed the bid receives it: its origin replaced by this message."""

    amount: Decimal
    user_id: UUID | None  # the bidder's own, unless the socket's session ended before it was sent
    bidder: int
    bid_id: int
    ends_at: datetime
    minimum_bid: Decimal
    message: str
    seq: int


class BidRefused(Message, tag=BID_REFUSED):
    """A bid that was not placed; `amount` is the bid's when the frame was a valid command."""

    message: str
    amount: Decimal | None = None


class InvalidMessage(Message, tag=INVALID_MESSAGE):
    """A frame that is not a valid command."""

    message: str


class NewBid(Message, tag=NEW_BID):
    """An accepted bid. `origin` is the subscription id of the socket that placed it (stored, never sent)."""

    amount: Decimal
    user_id: UUID | None  # stored always; sent null but to the bidder and the seller
    bidder: int
    bid_id: int
    ends_at: datetime
    minimum_bid: Decimal
    origin: str | None = None


class Finished(Message, tag=FINISHED):
    """The auction closed (with its winner and winning bid, or none) or was cancelled; the socket then closes."""

    status: Literal["closed", "cancelled"]
    winner_id: UUID | None
    amount: Decimal | None
    message: str
    winner: int | None = None


class Snapshot(Message, tag=SNAPSHOT):
    """The product's state on connect, as of event `seq`."""

    seq: int
    product_id: UUID
    status: Status
    amount: Decimal | None
    user_id: UUID | None
    current_bid: Decimal | None
    current_bidder_id: UUID | None
    current_bidder: int | None
    current_price: Decimal
    minimum_bid: Decimal
    baseprice: Decimal
    min_increment: Decimal
    ends_at: datetime
    bid_count: int
    winner_id: UUID | None
    winner: int | None
    winning_bid: Decimal | None


class Extended(Message, tag=EXTENDED):
    """A late bid moved the end (anti-sniping); published right after that bid's kind 4."""

    ends_at: datetime
    message: str


class BidsWithdrawn(Message, tag=BIDS_WITHDRAWN):
    """A deactivated bidder's bids left the auction (`withdrawn_bid_ids`); the best remaining bid leads."""

    amount: Decimal | None
    user_id: UUID | None
    current_bid: Decimal | None
    current_bidder_id: UUID | None
    current_bidder: int | None
    current_price: Decimal
    minimum_bid: Decimal
    bid_count: int
    ends_at: datetime
    withdrawn_bid_ids: list[int]
    message: str


# Every kind the server sends, decodable by its tag (tests/test_auctions_wire.py).
Sent = BidAccepted | BidRefused | InvalidMessage | NewBid | Finished | Snapshot | Extended | BidsWithdrawn

BID_ACCEPTED_TEXT = "Bid accepted"


def as_dict(message: Message) -> dict[str, Any]:
    """The message as the dict an event payload or a reply is (kind first). UUIDs, Decimals and datetimes stay
    as they are, for the JSON encoders that send them (Decimals as numbers)."""
    return msgspec.to_builtins(message, builtin_types=(UUID, Decimal, datetime))


def render_event(payload: dict[str, Any], seq: int, subscription_id: str) -> dict[str, Any]:
    """An event as one socket sees it: with its seq, without its origin, and kind 4 turned into kind 1
    (`BidAccepted`) for the socket that placed the bid (its subscription id is the event's origin)."""
    message = dict(payload)
    origin = message.pop("origin", None)
    message["seq"] = seq
    if message.get("kind") == NEW_BID and origin is not None and origin == subscription_id:
        message["kind"] = BID_ACCEPTED
        message["message"] = BID_ACCEPTED_TEXT
    return message
