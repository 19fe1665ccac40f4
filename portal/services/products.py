"""Product maintenance by admins: create and edit products, backorder settings one at a time or in bulk.

Every change of a backorder setting (policy, cap, visibility, stock display, low-stock threshold, lead
time) writes an audit row with the values before and after, in the same transaction as the change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.database import write_transaction
from portal.domain.availability import BackorderRules
from portal.extensions import db
from portal.models import AuditLog, Category, Product, User, Vendor
from portal.services import NotFound, ServiceError
from portal.services.audit import record, snapshot

#: The settings whose every change is audited under "backorder_settings_changed".
BACKORDER_SETTINGS = ("backorder_policy", "backorder_cap", "backorder_visibility", "stock_display",
                      "low_stock_threshold", "lead_time_days")
OTHER_FIELDS = ("sku", "name", "description", "category_id", "vendor_id", "price", "cost_price",
                "order_minimum", "order_multiple", "active")


class ProductRefused(ServiceError):
    """The product data cannot be saved; ``problems`` maps a field name to its message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(" ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class ProductData:
    sku: str
    name: str
    category_id: int
    vendor_id: int
    price: Decimal
    description: str = ""
    order_minimum: int = 1
    order_multiple: int = 1
    backorder_policy: str = "block"
    backorder_cap: int | None = None
    backorder_visibility: str = "show"
    stock_display: str = "exact"
    low_stock_threshold: int = 10
    #: None: the vendor's lead time applies.
    lead_time_days: int | None = None
    active: bool = True
    #: What we pay the vendor per unit (copied onto new PO lines); None: not entered.
    cost_price: Decimal | None = None


def normalise_sku(raw: str) -> str:
    return (raw or "").strip().upper()


def _rules_problem(policy: str, cap: int | None, visibility: str, display: str, threshold: int) -> str | None:
    try:
        BackorderRules(policy=policy, cap=cap, visibility=visibility, stock_display=display,  # type: ignore[arg-type]
                       low_stock_threshold=threshold)
    except ValueError:
        if policy == "allow_up_to" and cap is None:
            return "Enter the most units that may be on backorder (the cap) for “allow up to”."
        if policy != "allow_up_to" and cap is not None:
            return "A backorder cap only goes with the policy “allow up to”; leave it blank."
        return "These backorder settings are not valid."
    return None


def _problems(session: Session, data: ProductData, product_id: int | None) -> dict[str, str]:
    problems: dict[str, str] = {}
    sku_taken = select(Product.id).where(Product.sku == normalise_sku(data.sku))
    if product_id is not None:
        sku_taken = sku_taken.where(Product.id != product_id)
    if session.scalar(sku_taken) is not None:
        problems["sku"] = f"Another product already has SKU {normalise_sku(data.sku)}."
    if session.get(Category, data.category_id) is None:
        problems["category_id"] = "Choose an existing category."
    if session.get(Vendor, data.vendor_id) is None:
        problems["vendor_id"] = "Choose an existing vendor."
    rules = _rules_problem(data.backorder_policy, data.backorder_cap, data.backorder_visibility,
                           data.stock_display, data.low_stock_threshold)
    if rules:
        problems["backorder_cap"] = rules
    return problems


def _apply(product: Product, data: ProductData) -> None:
    for f in fields(ProductData):
        setattr(product, f.name, getattr(data, f.name))
    product.sku = normalise_sku(data.sku)
    product.name = data.name.strip()


def _audit_changes(actor: User, product: Product, before: dict, after: dict) -> None:
    """One audit row for changed backorder settings, another for any other changed fields."""
    groups = (("backorder_settings_changed", BACKORDER_SETTINGS), ("product_updated", OTHER_FIELDS))
    for action, names in groups:
        changed = [n for n in names if before.get(n) != after.get(n)]
        if changed:
            record(actor, action, "product", product.id, before={n: before[n] for n in changed},
                   after={n: after[n] for n in changed})


@contextmanager
def _sku_race_is_a_duplicate(data: ProductData) -> Iterator[None]:
    """The SKU check and the insert are one transaction, but on PostgreSQL a concurrent save of the same
    SKU can still win between them: the unique constraint then speaks, with the same message."""
    try:
        yield
    except IntegrityError as exc:
        raise ProductRefused({"sku": f"Another product already has SKU {normalise_sku(data.sku)}."}) from exc


def create_product(actor: User, data: ProductData) -> Product:
    with _sku_race_is_a_duplicate(data), write_transaction() as session:
        problems = _problems(session, data, None)
        if problems:
            raise ProductRefused(problems)
        product = Product()
        _apply(product, data)
        session.add(product)
        session.flush()
        record(actor, "product_created", "product", product.id,
               after=snapshot(product, OTHER_FIELDS + BACKORDER_SETTINGS))
    return product


def update_product(actor: User, product_id: int, data: ProductData) -> Product:
    with _sku_race_is_a_duplicate(data), write_transaction() as session:
        product = session.scalar(select(Product).where(Product.id == product_id).with_for_update())
        if product is None:
            raise NotFound("That product does not exist.")
        problems = _problems(session, data, product_id)
        if problems:
            raise ProductRefused(problems)
        before = snapshot(product, OTHER_FIELDS + BACKORDER_SETTINGS)
        _apply(product, data)
        _audit_changes(actor, product, before, snapshot(product, OTHER_FIELDS + BACKORDER_SETTINGS))
    return product


# --- bulk edit ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkSettings:
    """Backorder settings to apply to many products; None means "no change" for that setting.

    ``cap`` goes with ``policy == "allow_up_to"`` and only with it."""

    policy: str | None = None
    cap: int | None = None
    visibility: str | None = None
    stock_display: str | None = None

    def problem(self) -> str | None:
        if not any(v is not None for v in (self.policy, self.visibility, self.stock_display)):
            return "Choose at least one setting to change."
        if self.policy is not None:
            return _rules_problem(self.policy, self.cap, "show", "exact", 0)
        if self.cap is not None:
            return "A backorder cap only goes with the policy “allow up to”; choose that policy too."
        return None

    def changes(self) -> dict[str, object]:
        values: dict[str, object] = {}
        if self.policy is not None:
            values.update(backorder_policy=self.policy, backorder_cap=self.cap)
        if self.visibility is not None:
            values["backorder_visibility"] = self.visibility
        if self.stock_display is not None:
            values["stock_display"] = self.stock_display
        return values


def bulk_update_settings(actor: User, selection: Select, settings: BulkSettings) -> int:
    """Apply ``settings`` to every product whose id ``selection`` (a ``select(Product.id)``) yields, in one
    transaction, locking the products in id order. Returns how many products changed; each changed
    product gets its own audit row. Settings left as None are untouched."""
    problem = settings.problem()
    if problem:
        raise ServiceError(problem)
    changes = settings.changes()
    changed = 0
    with write_transaction() as session:
        ids = selection.order_by(None).subquery()
        products = session.scalars(select(Product).where(Product.id.in_(select(ids.c.id)))
                                   .order_by(Product.id).with_for_update()
                                   .execution_options(yield_per=500))
        for product in products:
            before = snapshot(product, tuple(changes))
            if all(before[name] == value for name, value in changes.items()):
                continue
            for name, value in changes.items():
                setattr(product, name, value)
            changed_names = [n for n in changes if before[n] != changes[n]]
            record(actor, "backorder_settings_changed", "product", product.id,
                   before={n: before[n] for n in changed_names}, after={n: changes[n] for n in changed_names})
            changed += 1
    return changed


# --- reads for the editor -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime
    actor: str | None
    action: str
    #: (field, before, after) per field the entry names; a missing side is None.
    changes: list[tuple[str, object, object]]


def audit_history(product_id: int, limit: int = 50) -> list[HistoryEntry]:
    """The product's audit trail, newest first, with the values before and after each change."""
    rows = db.session.execute(
        select(AuditLog, User.name).join(User, User.id == AuditLog.actor_id, isouter=True)
        .where(AuditLog.entity == "product", AuditLog.entity_id == product_id)
        .order_by(AuditLog.id.desc()).limit(limit)).all()
    history = []
    for entry, name in rows:
        before, after = json.loads(entry.before or "{}"), json.loads(entry.after or "{}")
        changes = [(key, before.get(key), after.get(key)) for key in sorted(set(before) | set(after))]
        history.append(HistoryEntry(entry.created_at, name, entry.action, changes))
    return history


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.name)))


def vendors() -> list[Vendor]:
    return list(db.session.scalars(select(Vendor).order_by(func.lower(Vendor.name))))
