"""The card report for the region's CDS team: how each card topic fares, per service, so alert fatigue
can be seen and thresholds tuned (``python -m cds_service report``).

Read from the service database (``TRAPPA_DATABASE_URL``), nothing written: the audit trail says which
cards were shown (each call's card uuids and topics, and when), the feedback says what became of them
(outcome and override reason per card uuid). Per service and card topic:

- **shown** — cards in the audit rows of the period (each call counts: the sandbox's Rx View, for one,
  calls order-select again after every change, and each call's cards are new cards with new uuids);
- **accepted**, **overridden** (and by reason) — cards whose feedback says so; a card with several
  feedback rows counts once, by its latest (``outcomeTimestamp``, then arrival);
- **ignored** — shown, no feedback; accepted + overridden + ignored = shown;
- **acceptance rate** — accepted / shown;
- **median answer time** — seconds from the card being shown (the service's clock, when it answered
  the call) to the clinician's answer (the EHR's ``outcomeTimestamp``), over the cards with feedback.

The period (``--from``/``--to``, ISO dates, both included, UTC) selects cards by when they were shown;
their feedback counts whenever it came. Feedback on cards not shown in the period (earlier, or never
issued by this database) is counted apart. The report holds no patient data: the audit rows carry none
(service, time, card uuids and topics), and the report prints neither uuids nor hook instances.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect, or_, select

from cds_service.web.storage import audit, feedback

OUR_REASONS = "urn:trappa:override-reason"
NO_REASON = "(no reason)"
FORMATS = ("table", "csv", "json")


class ReportError(Exception):
    """The report cannot be made (no such database, not a Trappa database); the message says why."""


@dataclass
class _Answer:
    outcome: str
    reason: str | None
    at: datetime | None
    order: tuple


@dataclass
class Row:
    service: str
    topic: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    answer_seconds: list[float] = field(default_factory=list)

    @property
    def ignored(self) -> int:
        return self.shown - self.accepted - self.overridden

    @property
    def acceptance_rate(self) -> float | None:
        return round(self.accepted / self.shown, 3) if self.shown else None

    @property
    def median_answer_seconds(self) -> float | None:
        return round(statistics.median(self.answer_seconds), 1) if self.answer_seconds else None

    def add(self, other: "Row") -> None:
        self.shown += other.shown
        self.accepted += other.accepted
        self.overridden += other.overridden
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n
        self.answer_seconds += other.answer_seconds

    def as_dict(self) -> dict:
        return {
            "service": self.service,
            "topic": self.topic,
            "shown": self.shown,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "overriddenByReason": dict(sorted(self.by_reason.items())),
            "ignored": self.ignored,
            "acceptanceRate": self.acceptance_rate,
            "medianAnswerSeconds": self.median_answer_seconds,
        }


@dataclass
class Report:
    period_from: date | None
    period_to: date | None
    calls: int
    failed_calls: int  # answered with an error (no cards): 4xx, 5xx
    rows: list[Row]
    total: Row
    feedback_not_shown: int

    def as_dict(self) -> dict:
        return {
            "period": {
                "from": self.period_from.isoformat() if self.period_from else None,
                "to": self.period_to.isoformat() if self.period_to else None,
            },
            "calls": self.calls,
            "failedCalls": self.failed_calls,
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
            "feedbackOnCardsNotShownInPeriod": self.feedback_not_shown,
        }


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _reason_key(system: str | None, code: str | None) -> str:
    if not code:
        return NO_REASON
    return code if system in (None, "", OUR_REASONS) else f"{system}#{code}"


def _engine(url: str):
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():  # SQLite would create an empty one: say so instead
            raise ReportError(f"no database file at {path} (TRAPPA_DATABASE_URL)")
    engine = create_engine(url, future=True)
    try:
        tables = set(inspect(engine).get_table_names())
    except Exception as exc:
        engine.dispose()
        raise ReportError(f"cannot open the database ({type(exc).__name__})") from None
    if not {"audit", "feedback"} <= tables:
        engine.dispose()
        raise ReportError("the database holds no Trappa audit trail (tables audit and feedback)")
    return engine


def build_report(database_url: str, period_from: date | None = None, period_to: date | None = None) -> Report:
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            # Feedback first (far fewer rows than cards shown): the latest answer per card uuid.
            answers: dict[str, _Answer] = {}
            query = select(feedback.c.id, feedback.c.card_uuid, feedback.c.outcome, feedback.c.override_system,
                           feedback.c.override_code, feedback.c.outcome_timestamp)
            for fid, uuid, outcome, system, code, stamp in conn.execute(query):
                at = _parse_time(stamp)
                order = (at.timestamp() if at else float("-inf"), fid)
                known = answers.get(uuid)
                if known is None or order > known.order:
                    reason = _reason_key(system, code) if outcome == "overridden" else None
                    answers[uuid] = _Answer(outcome, reason, at, order)

            # Then the cards shown, streamed: audit.at is UTC ISO text of one format, so text bounds work.
            # Hook calls only (refused ones too: answered with an error); refused feedback and discovery
            # calls are in the audit trail for the access log, not for the cards. NULL: rows made
            # before the audit trail had kinds, all hook calls.
            query = (select(audit.c.at, audit.c.service, audit.c.status, audit.c.cards)
                     .where(or_(audit.c.kind.is_(None), audit.c.kind == "hook")))
            if period_from:
                query = query.where(audit.c.at >= period_from.isoformat())
            if period_to:
                query = query.where(audit.c.at < (period_to + timedelta(days=1)).isoformat())
            rows: dict[tuple[str, str], Row] = {}
            calls = failed = 0
            matched: set[str] = set()
            for at_text, service, status, cards_json in conn.execution_options(yield_per=1000).execute(query):
                calls += 1
                failed += status != 200
                try:
                    cards = json.loads(cards_json)
                except ValueError:
                    continue
                shown_at = _parse_time(at_text)
                for card in cards if isinstance(cards, list) else ():
                    if not isinstance(card, dict):
                        continue
                    topic = card.get("topic") or "(none)"
                    row = rows.get((service, topic))
                    if row is None:
                        row = rows[(service, topic)] = Row(service, topic)
                    row.shown += 1
                    answer = answers.get(card.get("uuid"))
                    if answer is None:
                        continue
                    matched.add(card["uuid"])
                    if answer.outcome == "accepted":
                        row.accepted += 1
                    elif answer.outcome == "overridden":
                        row.overridden += 1
                        row.by_reason[answer.reason] = row.by_reason.get(answer.reason, 0) + 1
                    if answer.at and shown_at:
                        row.answer_seconds.append((answer.at - shown_at).total_seconds())
    finally:
        engine.dispose()
    ordered = [rows[k] for k in sorted(rows)]
    total = Row("(all)", "(all)")
    for row in ordered:
        total.add(row)
    return Report(period_from, period_to, calls, failed, ordered, total, len(set(answers) - matched))


# ---------------------------------------------------------------------------------------------------
# Output


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f} %"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".rstrip("0").rstrip(".") + " s"


def render_table(report: Report) -> str:
    head = ["service", "topic", "shown", "accepted", "overridden", "ignored", "acceptance", "median answer"]
    body = [[r.service, r.topic, str(r.shown), str(r.accepted), str(r.overridden), str(r.ignored),
             _percent(r.acceptance_rate), _seconds(r.median_answer_seconds)] for r in report.rows + [report.total]]
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]
    right = {2, 3, 4, 5, 6, 7}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    period = (f"{report.period_from or '…'} – {report.period_to or '…'} (UTC)"
              if report.period_from or report.period_to else "all time")
    out = [f"Trappa cards shown: {period}; {report.calls} hook calls ({report.failed_calls} answered with an error)",
           "", fmt(head),
           fmt(["-" * w for w in widths])]
    for row, cells in zip(report.rows + [report.total], body):
        if row is report.total:
            out.append(fmt(["-" * w for w in widths]))
        out.append(fmt(cells))
        if row.by_reason:
            reasons = ", ".join(f"{k} {n}" for k, n in sorted(row.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(" " * (widths[0] + 2) + f"  overridden: {reasons}")
    out += ["", "acceptance = accepted / shown; ignored = shown without feedback; median answer = from the card "
            "being shown to the clinician's outcomeTimestamp.",
            f"Feedback on cards not shown in this period: {report.feedback_not_shown}."]
    return "\n".join(out) + "\n"


def render_csv(report: Report) -> str:
    reasons = sorted({k for r in report.rows for k in r.by_reason})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["service", "topic", "shown", "accepted", "overridden", "ignored", "acceptanceRate",
                     "medianAnswerSeconds"] + [f"overridden:{k}" for k in reasons])
    for r in report.rows + [report.total]:
        writer.writerow([r.service, r.topic, r.shown, r.accepted, r.overridden, r.ignored,
                         "" if r.acceptance_rate is None else r.acceptance_rate,
                         "" if r.median_answer_seconds is None else r.median_answer_seconds]
                        + [r.by_reason.get(k, 0) for k in reasons])
    return buf.getvalue()


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"


RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json}
