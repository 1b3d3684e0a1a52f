"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis + Hypothesis).

Every operation gets generated requests, valid (positive) and invalid (negative: wrong types, missing fields,
out-of-range values), sent to the real server on a real database, anonymously, as a plain user (bearer) and as
the administrator. Three properties must hold for every answer: no 5xx (a client must never cause a server
error), a status the document lists for the operation (docs/rules/README.md, "Every answer documented"), and a
body that conforms to the schema the document promises for that status. The number of examples per operation is
bounded (FUZZ_EXAMPLES) so that the run stays about a minute; raise it locally to dig deeper:
`FUZZ_EXAMPLES=50 .venv/bin/pytest tests/test_fuzz_api.py -s`. With `-s` it prints the operations, examples and
statuses it saw."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.support import Account, RunningServer, new_user

# Bounded by FUZZ_EXAMPLES, not by time: a machine shared with other jobs must not fail it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# Calls that would end the fuzzing identity itself (then every later call is just a 401): logging out, revoking the
# token, deleting the account, changing its password or state. They are fuzzed with a throw-away account instead.
SELF_ENDING = {
    ("DELETE", "/api/v1/auth/token"),
    ("POST", "/api/v1/users/logout"),
    ("DELETE", "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/{user_id}"),
}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@dataclass
class Findings:
    operations: set[str] = field(default_factory=set)
    examples: dict[str, int] = field(default_factory=dict)  # per identity
    nothing_to_negate: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # one per operation, mode and identity


def _fuzz_one(
    operation: Any, mode: GenerationMode, who: str, headers: dict[str, str], base_url: str, findings: Findings
) -> None:
    label = f"{operation.method.upper()} {operation.path} [{who}, {mode.value}]"
    session = requests.Session()

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: a CI failure is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        findings.examples[who] = findings.examples.get(who, 0) + 1
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        findings.statuses[response.status_code] = findings.statuses.get(response.status_code, 0) + 1
        if label in findings.failures:
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis's FailureGroup is a BaseExceptionGroup
            findings.failures[label] = (
                f"{response.status_code} {response.text[:300]}\n  {failure!s:.500}\n"
                f"  reproduce: {case.as_curl_command(headers=headers)}"
            )

    try:
        run()
    except Unsatisfiable:
        findings.nothing_to_negate += mode == GenerationMode.NEGATIVE  # no parameter or body to get wrong


def _fuzz(base_url: str, document: dict[str, Any], identities: dict[str, dict[str, str]], login: Any) -> Findings:
    schema = schemathesis.openapi.from_dict(document)
    findings = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        findings.operations.add(f"{operation.method.upper()} {operation.path}")
        for who, headers in identities.items():
            if headers and (operation.method.upper(), operation.path) in SELF_ENDING:
                headers = login()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_one(operation, mode, who, headers, base_url, findings)
    return findings


async def test_every_operation_survives_generated_and_malformed_requests(
    server: RunningServer, client: httpx.AsyncClient, admin: Account, user: Account
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    loop = asyncio.get_running_loop()

    def throwaway_login() -> dict[str, str]:
        return asyncio.run_coroutine_threadsafe(new_user(client), loop).result(60).headers

    findings = await asyncio.to_thread(
        _fuzz, server.url, document, {"anonymous": {}, "user": user.headers, "admin": admin.headers}, throwaway_login
    )
    operations = sum(len(methods) for methods in document["paths"].values())
    print(
        f"\nfuzzed {len(findings.operations)} operations, {sum(findings.examples.values())} examples "
        f"{findings.examples} (at most {EXAMPLES} per operation, identity and mode), "
        f"{len(findings.failures)} failing; statuses: {dict(sorted(findings.statuses.items()))}"
    )
    assert len(findings.operations) == operations
    report = "\n".join(f"{key}: {text}" for key, text in sorted(findings.failures.items()))
    assert not findings.failures, f"{len(findings.failures)} failing operation(s):\n{report}"
