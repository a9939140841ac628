"""Errors a client can cause, answered as FHIR OperationOutcome (CDS Hooks 3.0 ballot advice).

A :class:`RequestProblem` carries an HTTP status and a message that names what is wrong; it never
carries tokens or clinical detail.
"""
from __future__ import annotations

from flask import Response, json


class RequestProblem(Exception):
    """A client-caused problem: 4xx with an OperationOutcome."""

    def __init__(self, status: int, code: str, message: str, expression: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code  # OperationOutcome.issue.code (invalid, not-found, incomplete, ...)
        self.message = message
        self.expression = expression


def operation_outcome(code: str, message: str, expression: str | None = None, severity: str = "error") -> dict:
    issue = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(status: int, code: str, message: str, expression: str | None = None) -> Response:
    body = json.dumps(operation_outcome(code, message, expression))
    return Response(body, status=status, mimetype="application/fhir+json")


def problem_response(problem: RequestProblem) -> Response:
    return outcome_response(problem.status, problem.code, problem.message, problem.expression)


#: The 503 of every storage failure (the database unreachable, locked, read-only, full …).
STORAGE_DOWN = "the service's database is unavailable; nothing was stored — retry later (with a fresh token)"


def storage_unavailable_response() -> Response:
    return outcome_response(503, "transient", STORAGE_DOWN)
