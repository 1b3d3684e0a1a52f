"""The e-mail address rule (docs/rules/users.md, "E-mail addresses"): one function, used wherever an address is
accepted (request bodies, settings) and again by the sender before a message is built.

Accepted is what the mailer can send verbatim and every mail server reads the same way: a dot-atom local part
and a domain of LDH labels. Everything RFC 5322 allows beyond that (quoted local parts, comments, group syntax,
display names, address literals) is refused, because a header parser may read it as another recipient, or as
none. An internationalised domain is accepted and stored in its ASCII form (IDNA 2008).
"""

from __future__ import annotations

import re
from contextvars import ContextVar

import idna

MAX_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL_LENGTH = 64
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Characters str.splitlines() breaks on: CR, LF and the others a header writer may treat as a line end.
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# Whether `localhost` alone is an accepted domain: only in development (set per request from APP_ENV by
# app.web.validation). The default is the production rule.
localhost_allowed: ContextVar[bool] = ContextVar("localhost_allowed", default=False)


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        ascii_domain = domain.lower()
        if any(label.startswith("xn--") for label in ascii_domain.split(".")):
            idna.decode(ascii_domain)  # an A-label must be valid punycode of a valid U-label
        return ascii_domain
    return idna.encode(domain, uts46=True).decode("ascii")


def mail_address(value: str, *, allow_localhost: bool | None = None) -> str:
    """The address as it is stored: the local part as given, the domain lower-cased ASCII. Raises ValueError
    with a message for the client when the address breaks the rule."""
    if allow_localhost is None:
        allow_localhost = localhost_allowed.get()
    local, at, domain = value.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or len(local) > MAX_LOCAL_LENGTH:
        raise ValueError(
            "Not a valid e-mail address: the part before @ may hold only ASCII letters, digits and "
            "!#$%&'*+/=?^_`{|}~- with single dots between them"
        )
    try:
        domain = _ascii_domain(domain)
    except (idna.IDNAError, UnicodeError):
        raise ValueError("Not a valid e-mail address: the domain is not a valid domain name") from None
    labels = domain.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("Not a valid e-mail address: the domain is not a valid domain name")
    if len(labels) < 2 and not (allow_localhost and domain == "localhost"):
        raise ValueError("Not a valid e-mail address: the domain needs a dot")
    address = f"{local}@{domain}"
    if len(address) > MAX_LENGTH:
        raise ValueError(f"Not a valid e-mail address: at most {MAX_LENGTH} characters")
    return address


def header_safe(value: str) -> str:
    """Text that can reach a mail header (names, clinic names): no line break, no control character."""
    if _LINE_BREAKS.search(value) or _CONTROL.search(value):
        raise ValueError("Must not contain line breaks or control characters")
    return value
