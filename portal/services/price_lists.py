"""Customer pricing maintained by admins: price lists (a percentage off, fixed prices per product) and
volume breaks per product (issue 3, point 6). Every change is audited.

Computation of prices stays in :mod:`portal.domain.pricing`; this module stores what admins decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.database import write_transaction
from portal.domain.pricing import HUNDRED, Break, PriceTier, company_unit_price, price_table
from portal.extensions import db
from portal.models import Company, PriceBreak, PriceList, PriceListItem, Product, User
from portal.services import NotFound, ServiceError
from portal.services.audit import record
from portal.services.products import normalise_sku


class PricingRefused(ServiceError):
    pass


# --- price lists --------------------------------------------------------------------------------------


def _check_name(session, name: str, price_list_id: int | None) -> str:
    name = name.strip()
    if not name:
        raise PricingRefused("Enter a name for the price list.")
    query = select(PriceList.id).where(func.lower(PriceList.name) == name.lower())
    if price_list_id is not None:
        query = query.where(PriceList.id != price_list_id)
    if session.scalar(query) is not None:
        raise PricingRefused(f"A price list named “{name}” already exists.")
    return name


def _check_percent(percent: Decimal) -> None:
    if not percent.is_finite() or not Decimal(0) <= percent <= HUNDRED:
        raise PricingRefused("The percentage off is between 0 and 100.")


def create_price_list(actor: User, name: str, discount_percent: Decimal) -> PriceList:
    _check_percent(discount_percent)
    with write_transaction() as session:
        row = PriceList(name=_check_name(session, name, None), discount_percent=discount_percent)
        session.add(row)
        session.flush()
        record_args = {"name": row.name, "discount_percent": discount_percent}
        _audit(actor, "price_list_created", row.id, after=record_args)
    return row


def update_price_list(actor: User, price_list_id: int, name: str, discount_percent: Decimal) -> PriceList:
    _check_percent(discount_percent)
    with write_transaction() as session:
        row = session.get(PriceList, price_list_id)
        if row is None:
            raise NotFound("That price list does not exist.")
        before = {"name": row.name, "discount_percent": row.discount_percent}
        row.name = _check_name(session, name, price_list_id)
        row.discount_percent = discount_percent
        after = {"name": row.name, "discount_percent": discount_percent}
        if before != after:
            _audit(actor, "price_list_updated", row.id, before=before, after=after)
    return row


def _audit(actor: User, action: str, entity_id: int, entity: str = "price_list", **values) -> None:
    record(actor, action, entity, entity_id, **values)


def set_list_price(actor: User, price_list_id: int, sku: str, price: Decimal) -> tuple[Product, bool]:
    """Give the product with ``sku`` a fixed price on the list (replacing any earlier one).
    Returns the product and whether a fixed price was replaced."""
    if not price.is_finite() or price < 0:
        raise PricingRefused("Enter a price of 0 or more.")
    with write_transaction() as session:
        if session.get(PriceList, price_list_id) is None:
            raise NotFound("That price list does not exist.")
        product = session.scalar(select(Product).where(Product.sku == normalise_sku(sku)))
        if product is None:
            raise PricingRefused(f"No product has SKU {normalise_sku(sku) or '(blank)'}.")
        item = session.get(PriceListItem, (price_list_id, product.id))
        replaced = item is not None
        before = {"sku": product.sku, "price": item.price} if item else None
        if item is None:
            item = PriceListItem(price_list_id=price_list_id, product_id=product.id, price=price)
            session.add(item)
        item.price = price
        _audit(actor, "list_price_set", price_list_id, before=before,
               after={"sku": product.sku, "price": price})
    return product, replaced


def remove_list_price(actor: User, price_list_id: int, product_id: int) -> None:
    with write_transaction() as session:
        item = session.get(PriceListItem, (price_list_id, product_id))
        if item is None:
            raise NotFound("That product has no fixed price on this list.")
        before = {"product_id": product_id, "price": item.price}
        session.delete(item)
        _audit(actor, "list_price_removed", price_list_id, before=before)


@dataclass(frozen=True)
class ListPriceRow:
    product: Product
    fixed_price: Decimal
    #: What the list's percentage alone would give.
    percent_price: Decimal


def list_prices(price_list: PriceList) -> list[ListPriceRow]:
    rows = db.session.execute(
        select(PriceListItem, Product).join(Product, Product.id == PriceListItem.product_id)
        .where(PriceListItem.price_list_id == price_list.id).order_by(Product.sku)).all()
    return [ListPriceRow(product, item.price, company_unit_price(product.price, price_list.discount_percent))
            for item, product in rows]


def price_lists_with_usage() -> list[tuple[PriceList, int, int]]:
    """Every price list with how many companies use it and how many fixed prices it holds."""
    companies = (select(Company.price_list_id, func.count(Company.id).label("n"))
                 .group_by(Company.price_list_id).subquery())
    items = (select(PriceListItem.price_list_id, func.count().label("n"))
             .group_by(PriceListItem.price_list_id).subquery())
    rows = db.session.execute(
        select(PriceList, func.coalesce(companies.c.n, 0), func.coalesce(items.c.n, 0))
        .join(companies, companies.c.price_list_id == PriceList.id, isouter=True)
        .join(items, items.c.price_list_id == PriceList.id, isouter=True)
        .order_by(func.lower(PriceList.name))).all()
    return [(pl, int(c), int(i)) for pl, c, i in rows]


# --- volume breaks ------------------------------------------------------------------------------------


def add_price_break(actor: User, product_id: int, min_quantity: int, percent_off: Decimal) -> PriceBreak:
    problems = []
    if min_quantity < 2:
        problems.append("A volume break starts at 2 units or more.")
    if not percent_off.is_finite() or not Decimal(0) < percent_off < HUNDRED:
        problems.append("The percentage off is more than 0 and less than 100.")
    if problems:
        raise PricingRefused(" ".join(problems))
    try:
        with write_transaction() as session:
            if session.get(Product, product_id) is None:
                raise NotFound("That product does not exist.")
            taken = session.scalar(select(PriceBreak.id).where(PriceBreak.product_id == product_id,
                                                                PriceBreak.min_quantity == min_quantity))
            if taken is not None:
                raise PricingRefused(f"There is already a break at {min_quantity} units; remove it first.")
            row = PriceBreak(product_id=product_id, min_quantity=min_quantity, percent_off=percent_off)
            session.add(row)
            session.flush()
            _audit(actor, "price_break_added", product_id, entity="product",
                   after={"min_quantity": min_quantity, "percent_off": percent_off})
    except IntegrityError as exc:  # a concurrent add of the same break won the race
        raise PricingRefused(f"There is already a break at {min_quantity} units; remove it first.") from exc
    return row


def remove_price_break(actor: User, product_id: int, break_id: int) -> None:
    with write_transaction() as session:
        row = session.get(PriceBreak, break_id)
        if row is None or row.product_id != product_id:
            raise NotFound("That volume break no longer exists.")
        before = {"min_quantity": row.min_quantity, "percent_off": row.percent_off}
        session.delete(row)
        _audit(actor, "price_break_removed", product_id, entity="product", before=before)


def breaks_of(product_id: int) -> list[PriceBreak]:
    return list(db.session.scalars(select(PriceBreak).where(PriceBreak.product_id == product_id)
                                   .order_by(PriceBreak.min_quantity)))


def list_price_table(product: Product, breaks: list[PriceBreak]) -> list[PriceTier]:
    """The volume table at list price (what a company without a price list pays)."""
    return price_table(product.price, [Break(b.min_quantity, b.percent_off) for b in breaks])
