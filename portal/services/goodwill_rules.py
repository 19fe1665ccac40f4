"""Automatic goodwill rules as admins maintain them (DESIGN §4, issue 4 point 5). Every change is audited.

What a rule does to an order is :mod:`portal.domain.goodwill`'s business; this module stores what admins
decide. A rule is never deleted: orders keep pointing at the rule that made their adjustments, so a rule
that should stop applying is deactivated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import func, select

from portal.database import write_transaction
from portal.domain.goodwill import rule_problems
from portal.extensions import db
from portal.models import GoodwillRule, OrderAdjustment, User
from portal.services import NotFound, ServiceError
from portal.services.audit import record

FIELDS = ("name", "kind", "days", "percent", "amount", "active")


class RuleRefused(ServiceError):
    """The rule as given is not valid; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(" ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class RuleData:
    name: str
    kind: str
    days: int | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None


def rules_with_usage() -> list[tuple[GoodwillRule, int]]:
    """Every rule (active first, then by name) with how many adjustments it has made."""
    used = (select(OrderAdjustment.rule_id, func.count(OrderAdjustment.id).label("uses"))
            .group_by(OrderAdjustment.rule_id).subquery())
    rows = db.session.execute(
        select(GoodwillRule, func.coalesce(used.c.uses, 0))
        .join(used, used.c.rule_id == GoodwillRule.id, isouter=True)
        .order_by(GoodwillRule.active.desc(), func.lower(GoodwillRule.name), GoodwillRule.id)).all()
    return [(rule, uses) for rule, uses in rows]


def _checked(session, data: RuleData, rule_id: int | None) -> RuleData:
    """``data`` cleaned, or RuleRefused with every problem at once."""
    name = data.name.strip()
    problems = {}
    if not name:
        problems["name"] = "Enter a name for the rule."
    elif len(name) > 120:
        problems["name"] = "A name has at most 120 characters."
    else:
        same = select(GoodwillRule.id).where(func.lower(GoodwillRule.name) == name.lower())
        if rule_id is not None:
            same = same.where(GoodwillRule.id != rule_id)
        if session.scalar(same) is not None:
            problems["name"] = f"A goodwill rule named “{name}” already exists."
    problems.update(rule_problems(data.kind, data.days, data.percent, data.amount))
    if problems:
        raise RuleRefused(problems)
    return RuleData(name, data.kind, data.days, _cents(data.percent), _cents(data.amount))


def _cents(value: Decimal | None) -> Decimal | None:
    """As the Numeric(…, 2) column stores it, so the audit row says what was stored."""
    return None if value is None else value.quantize(Decimal("0.01"))


def _snapshot(rule: GoodwillRule) -> dict:
    return {name: getattr(rule, name) for name in FIELDS}


def create_rule(actor: User, data: RuleData) -> GoodwillRule:
    """A new rule, active at once: it applies to orders reviewed and placed from now on."""
    with write_transaction() as session:
        clean = _checked(session, data, None)
        rule = GoodwillRule(**asdict(clean), active=True)
        session.add(rule)
        session.flush()
        record(actor, "goodwill_rule_created", "goodwill_rule", rule.id, after=_snapshot(rule))
    return rule


def update_rule(actor: User, rule_id: int, data: RuleData) -> GoodwillRule:
    """Change a rule's name, kind or parameters; the fields its kind does not use are cleared.
    Orders placed earlier keep the adjustments they got."""
    with write_transaction() as session:
        rule = _rule(session, rule_id)
        clean = _checked(session, data, rule_id)
        before = _snapshot(rule)
        for name, value in asdict(clean).items():
            setattr(rule, name, value)
        after = _snapshot(rule)
        if _normal(before) != _normal(after):
            record(actor, "goodwill_rule_updated", "goodwill_rule", rule.id, before=before, after=after)
    return rule


def set_rule_active(actor: User, rule_id: int, active: bool) -> GoodwillRule:
    """Switch a rule on or off (idempotent: asking for the state it is in changes and records nothing)."""
    with write_transaction() as session:
        rule = _rule(session, rule_id)
        if rule.active != active:
            rule.active = active
            action = "goodwill_rule_activated" if active else "goodwill_rule_deactivated"
            record(actor, action, "goodwill_rule", rule.id, before={"active": not active},
                   after={"active": active})
    return rule


def _rule(session, rule_id: int) -> GoodwillRule:
    rule = session.get(GoodwillRule, rule_id)
    if rule is None:
        raise NotFound("That goodwill rule does not exist.")
    return rule


def _normal(values: dict) -> dict:
    """Decimals compared by value (5 == 5.00), so saving an unchanged form records nothing."""
    return {k: (v.normalize() if isinstance(v, Decimal) else v) for k, v in values.items()}
