"""Reviewing a cart and placing an order (DESIGN §4, §6): one service, one transaction.

``review_cart`` reads live stock without locks and tells the buyer what would happen. ``place_order``
does it for real: it locks the products and their stock rows in product-id order, re-checks every rule
against live stock, allocates what is on the shelf, backorders the rest where the policy allows,
records ETAs and deadlines, prices and goodwill, queues the confirmation in the outbox and commits once.
If anything differs from what the buyer reviewed, nothing is written and every changed line is reported.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal.database import write_transaction
from portal.domain.availability import split_request
from portal.domain.checkout import LineRequest, PlanLine, ProductState, blocking_problems, changed_lines
from portal.domain.checkout import plan as plan_lines
from portal.domain.eta import OpenPoLine, WaitingBackorder, eta_for_new_backorder, lead_time_days
from portal.domain.goodwill import Adjustment, Rule, adjustments_for
from portal.extensions import db
from portal.models import (
    CardCharge,
    Cart,
    Company,
    GoodwillRule,
    Order,
    OrderAdjustment,
    OrderLine,
    PaymentCard,
    Product,
    Stock,
    User,
)
from portal.services import ServiceError, balances, credit, notifications
from portal.services import carts as cart_service
from portal.services.cards import card_of_company
from portal.services.pricing import PriceBook
from portal.services.stock_facts import backordered_open_by_product, open_po_lines_by_product, rules_of


class CheckoutRejected(ServiceError):
    """The order cannot be placed as it stands; ``problems`` lists every reason, line by line."""

    def __init__(self, problems: list[tuple[PlanLine | None, str]]):
        super().__init__("; ".join(p for _, p in problems))
        self.problems = problems


class ReviewOutdated(ServiceError):
    """Stock, prices or ETAs changed since the buyer reviewed: ``lines`` shows the new figures."""

    def __init__(self, lines: list[PlanLine]):
        super().__init__("Some lines changed since you reviewed your order.")
        self.lines = lines


@dataclass
class Review:
    cart: Cart
    lines: list[PlanLine]
    adjustments: list[Adjustment]
    subtotal: Decimal
    adjustments_total: Decimal
    total: Decimal
    problems: list[tuple[PlanLine | None, str]] = field(default_factory=list)
    #: On account: the credit check of this review (placing uses it for the exception it needs).
    credit_check: credit.CreditCheck | None = None

    @property
    def fingerprint(self) -> list[tuple]:
        return [line.fingerprint() for line in self.lines]


def _requests(cart: Cart) -> list[LineRequest]:
    return [LineRequest(line.product_id, line.quantity, line.need_by or cart.need_by, line.accept_late)
            for line in sorted(cart.lines, key=lambda line: line.product_id)]


def product_states(products: list, wanted: dict[int, int], available: dict[int, int], book: PriceBook,
                   today: date, priced: tuple[dict, dict] | None = None, locked: bool = False,
                   po_lines: dict[int, list[OpenPoLine]] | None = None,
                   waiting: dict[int, int | None] | None = None) -> dict[int, ProductState]:
    """Each product's state, with the ETA its backordered part would get at the end of the queue.

    ``products`` are Product objects or rows with the same column names (the API reads rows, with the
    vendor's lead time as ``vendor_lead_time_days``). Waiting backorders and open PO lines are read only
    for the products the order would backorder (wanted > available): two queries, whatever the count.
    ``priced``: the book's unit prices and breaks of these products, when read already (before locks).
    ``locked``: the products' rows are locked in a write transaction (placing; see
    ``stock_facts.backordered_open_by_product``).
    ``po_lines``: open PO lines by product kept from an earlier plan of the same order (the API plans
    before the locks and again under them): only short products missing from it are read, and added to
    it. Waiting backorders are read every time — other orders change them, and the cap counts them —
    unless ``waiting`` gives them, read already with the products (None where not known: read then)."""
    short = [p.id for p in products if wanted.get(p.id, 1) > available.get(p.id, 0)]
    given = waiting or {}
    read = backordered_open_by_product([product_id for product_id in short if given.get(product_id) is None],
                                       locked)
    waiting = {product_id: read.get(product_id, 0) if given.get(product_id) is None else given[product_id]
               for product_id in short}
    if po_lines is None:
        po_lines = open_po_lines_by_product(short, today)
    else:
        unread = [product_id for product_id in short if product_id not in po_lines]
        if unread:
            read = open_po_lines_by_product(unread, today)
            po_lines.update({product_id: read.get(product_id, []) for product_id in unread})
    prices, breaks = priced or (book.unit_prices(products), book.breaks([p.id for p in products]))
    states = {}
    for product in products:
        rules, open_units = rules_of(product), waiting.get(product.id, 0)
        state = ProductState(
            product_id=product.id, sku=product.sku, name=product.name, rules=rules,
            available=available.get(product.id, 0), backordered_open=open_units,
            unit_price=prices[product.id], breaks=tuple(breaks.get(product.id, ())),
            minimum=product.order_minimum, multiple=product.order_multiple, active=product.active)
        split = split_request(max(wanted.get(product.id, 1), 1), state.available, rules, open_units)
        if split.backorderable:
            # The queue as one block: its links are not read, so only its total decides a new ETA.
            queue = [WaitingBackorder(0, open_units)] if open_units else []
            days = lead_time_days(product.lead_time_days, _vendor_lead_time(product))
            state = replace(state, eta=eta_for_new_backorder(
                po_lines.get(product.id, []), queue, split.backorderable, today=today, lead_time_days=days))
        states[product.id] = state
    return states


def _vendor_lead_time(product) -> int:
    days = getattr(product, "vendor_lead_time_days", None)
    return product.vendor.lead_time_days if days is None else days


_rules = GoodwillRule.__table__.c
_ACTIVE_RULES = (select(_rules.id, _rules.name, _rules.kind, _rules.days, _rules.percent, _rules.amount)
                 .where(_rules.active).order_by(_rules.id))


def goodwill_rules(session=None) -> list[Rule]:
    """The active goodwill rules, as the domain's values (one query)."""
    return [Rule(*row) for row in (session or db.session).execute(_ACTIVE_RULES)]


class ActiveRulesJson(FunctionElement):
    """The active goodwill rules as one JSON text column (a list of [id, name, kind, days, percent,
    amount], by id; money as text), for a statement that runs anyway: the API reads them with the key
    instead of in a statement of their own. Read it with :func:`goodwill_rules_from`. A function
    element, so statements using it stay in SQLAlchemy's compiled cache."""

    type = String()
    name = "active_rules_json"
    inherit_cache = True


@compiles(ActiveRulesJson, "postgresql")
def _rules_json_postgresql(_element, _compiler, **_kw) -> str:
    return ("(SELECT coalesce(json_agg(json_build_array(id, name, kind, days, percent::text, amount::text) "
            "ORDER BY id), '[]')::text FROM goodwill_rules WHERE active)")


@compiles(ActiveRulesJson, "sqlite")
def _rules_json_sqlite(_element, _compiler, **_kw) -> str:
    return ("(SELECT coalesce(json_group_array(json_array(id, name, kind, days, CAST(percent AS TEXT), "
            "CAST(amount AS TEXT))), '[]') FROM (SELECT * FROM goodwill_rules WHERE active ORDER BY id))")


_TWO_PLACES = Decimal("0.01")  # both Numeric(_, 2); SQLite may give 2.5 for 2.50


def goodwill_rules_from(text: str) -> list[Rule]:
    """:func:`goodwill_rules` from an :class:`ActiveRulesJson` column (the same values, to the cent)."""
    def exact(value) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(_TWO_PLACES)

    return [Rule(id_, name, kind, days, exact(percent), exact(amount))
            for id_, name, kind, days, percent, amount in json.loads(text)]


def order_totals(lines: list[PlanLine], adjustments: list[Adjustment]) -> tuple[Decimal, Decimal, Decimal]:
    """Subtotal, adjustments and total of planned lines (the checkout's and the API's)."""
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    adjusted = sum((a.amount for a in adjustments), Decimal("0.00"))
    return subtotal, adjusted, subtotal + adjusted


def _plan(cart: Cart, products: list[Product], available: dict[int, int], company: Company,
          today: date, locked: bool = False) -> Review:
    """``locked``: placing, with the company, product and stock rows locked (kept sums read unknown are
    stored at commit: ``portal.services.balances``)."""
    requests = _requests(cart)
    wanted = {r.product_id: r.quantity for r in requests}
    states = product_states(products, wanted, available, PriceBook.for_company(company), today, locked=locked)
    lines = plan_lines(requests, states)
    adjustments = adjustments_for(lines, goodwill_rules(), today)
    subtotal, adjusted, total = order_totals(lines, adjustments)
    problems: list[tuple[PlanLine | None, str]] = list(blocking_problems(lines))
    if not lines:
        problems.append((None, "Your cart is empty."))
    if cart.ship_to_id is None:
        problems.append((None, "Choose where to ship the order (add an address under My company)."))
    checked = None
    if lines:
        # How it is paid: a usable card, or on account within the credit limit (DESIGN §7).
        payment, checked = credit.assess(cart, company, total, locked)
        problems.extend((None, p) for p in payment)
    return Review(cart, lines, adjustments, subtotal, adjusted, total, problems, checked)


def review_cart(user: User, company: Company, today: date) -> Review | None:
    """What placing the order would do right now (no locks; placing re-checks everything)."""
    from portal.services.stock_facts import available_by_product

    cart = cart_service.find_cart(user.id, company.id)
    if cart is None:
        return None
    products = [line.product for line in cart.lines]
    return _plan(cart, products, available_by_product([p.id for p in products]), company, today)


def placeholder_number() -> str:
    """The number a claimed order row holds until it is placed: random, never derived from the token.
    Submits of one token race to insert it; "on conflict do nothing" arbitrates on the token alone, and
    a second unique value shared by them (the number) made PostgreSQL deadlock two of the inserts."""
    return f"T{uuid.uuid4().hex[:19]}"


def _claim_token(session, user: User, company_id: int, token: str) -> tuple[int | None, Order | None]:
    """Insert the order row first, keyed by the one-time token ("on conflict do nothing").

    Returns (new order id, None) for a fresh token, or (None, existing order) when the token was used:
    a double submit finds the order the first submit made. Never check-then-insert (DESIGN §6)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(Order)
            .values(number=placeholder_number(), checkout_token=token, company_id=company_id,
                    placed_by_id=user.id)
            .on_conflict_do_nothing(index_elements=["checkout_token"]).returning(Order.id))
    order_id = session.execute(stmt).scalar_one_or_none()
    if order_id is not None:
        return order_id, None
    existing = session.scalar(select(Order).where(Order.checkout_token == token))
    if existing is None or existing.company_id != company_id or existing.placed_by_id != user.id:
        raise ServiceError("This checkout page has expired. Review your order again.")
    return None, existing


def _lock(session, user: User, company_id: int):
    """Lock the cart, then the products and their stock rows in product-id order (no deadlocks).

    ``FOR NO KEY UPDATE`` (``key_share=True``): we never change these rows' keys, and the weaker lock
    does not conflict with the key-share locks that foreign-key checks take when other buyers add the
    same products to their carts; plain ``FOR UPDATE`` made those inserts wait and could deadlock."""
    from sqlalchemy.orm import selectinload

    cart = session.scalar(select(Cart).where(Cart.user_id == user.id, Cart.company_id == company_id)
                          .with_for_update(key_share=True))
    if cart is None or not cart.lines:
        raise CheckoutRejected([(None, "Your cart is empty.")])
    ids = sorted(line.product_id for line in cart.lines)
    products = list(session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id)
                                    .options(selectinload(Product.vendor)).with_for_update(key_share=True)))
    stocks = list(session.scalars(select(Stock).where(Stock.product_id.in_(ids))
                                  .order_by(Stock.product_id, Stock.warehouse_id)
                                  .with_for_update(key_share=True)))
    return cart, products, stocks


def _allocate(stocks: list[Stock], lines: list[PlanLine]) -> None:
    """Promise each line's allocated units from the product's stock rows, warehouse by warehouse."""
    rows: dict[int, list[Stock]] = {}
    for stock in stocks:
        rows.setdefault(stock.product_id, []).append(stock)
    for line in lines:
        need = line.allocate
        for stock in rows.get(line.product_id, []):
            take = min(need, stock.on_hand - stock.allocated)
            if take > 0:
                stock.allocated += take
                need -= take
        assert need == 0, "allocation exceeded the locked stock"  # the plan used the same figures


def _order_lines(order: Order, lines: list[PlanLine]) -> dict[int, OrderLine]:
    made = {}
    for line in lines:
        made[line.product_id] = OrderLine(
            order_id=order.id, product_id=line.product_id, sku=line.sku, name=line.name,
            quantity=line.quantity, allocated=line.allocate, backordered=line.backorder,
            unit_price=line.unit_price, line_total=line.line_total,
            eta=line.eta.date if line.eta else None, eta_estimated=bool(line.eta and line.eta.estimated),
            need_by=line.need_by, accepted_late=line.late and line.accept_late, backorder_hidden=line.hidden)
    return made


def _confirmation(order: Order, user: User, review: Review) -> None:
    """The confirmation email (outbox) and in-app notice, in the placing transaction."""
    payload = confirmation_payload(order.number, order.company.name, order.total, review.lines)
    for recipient in confirmation_recipients(order, user):
        notifications.notify(recipient, "order_confirmed", {**payload, "placed_by": user.name})


def confirmation_payload(number: str, company_name: str, total: Decimal, lines: list[PlanLine]) -> dict:
    """The ``order_confirmed`` notice's payload (see ``notifications``), without ``placed_by``."""
    return {
        "order_number": number, "company": company_name, "total": str(total),
        "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity,
                   "allocated": line.allocate, "backordered": line.backorder, "hidden": line.hidden,
                   "eta": line.eta.date.isoformat() if line.eta else None, "late": line.late}
                  for line in lines],
    }


def confirmation_recipients(order: Order, user: User) -> list[User]:
    """Who is told an order was placed: the buyer who placed it; for an order a rep or admin placed for
    a customer, the company's active buyers too (they did not see the checkout)."""
    if user.role == "buyer":
        return [user]
    buyers = db.session.scalars(select(User).where(User.company_id == order.company_id, User.role == "buyer",
                                                   User.active).order_by(User.id))
    return [*buyers, user]


def chosen_card(cart: Cart, company_id: int) -> PaymentCard:
    """The saved card the cart pays with; CheckoutRejected when there is none (or not the company's)."""
    card = card_of_company(company_id, cart.payment_card_id) if cart.payment_card_id else None
    if card is None:
        raise CheckoutRejected([(None, "Choose one of your saved cards in the checkout details.")])
    return card


def _settle_payment(session, user: User, order: Order, cart: Cart, company: Company, review: Review,
                    card_charge_id: int | None) -> None:
    """Record how the order is paid, in the placing transaction (DESIGN §7).

    On account: use the credit exception that lets it over the limit, if one was needed. Card, charged
    at order: the authorized charge must be this company's, unused and for exactly the order total
    (``payments.place_order_paid_by_card`` authorizes it before, and captures it after, this
    transaction). Card, charged per shipment: remember the card and the policy."""
    if cart.payment_method == "on_account":
        check = review.credit_check  # made under the company lock while re-planning
        if check.exception_id is not None and check.over_by > 0:
            credit.use_exception(session, user, check.exception_id, order.id)
        return
    order.payment_card_id, order.charge_policy = chosen_card(cart, company.id).id, company.charge_policy
    if company.charge_policy != "at_order":
        return
    charge = session.get(CardCharge, card_charge_id) if card_charge_id else None
    if (charge is None or charge.company_id != company.id or charge.status != "authorized"
            or charge.order_id is not None or charge.amount != review.total):
        raise ServiceError("The card payment does not match this order. Review your order again.")
    charge.order_id = order.id


def place_order(user: User, company_id: int, token: str, reviewed: list, today: date, *,
                card_charge_id: int | None = None) -> Order:
    """Place the cart of ``user`` for ``company_id`` as reviewed; see the module docstring.

    Raises CheckoutRejected (rules forbid it now) or ReviewOutdated (figures changed since review);
    in both cases nothing is written. A token already used returns the order it made. A card order
    charged at placement goes through ``payments.place_order_paid_by_card``, which passes the
    authorized ``card_charge_id``."""
    if not token or len(token) > 64:
        raise ServiceError("This checkout page has expired. Review your order again.")
    with write_transaction() as session:
        order_id, existing = _claim_token(session, user, company_id, token)
        if existing is not None:
            return existing
        # The company row first (every service that locks it and stock rows does so in this order): on
        # account, its exposure is read under this lock, so concurrent orders are checked against the
        # credit limit one after the other (portal.services.credit).
        company = credit.lock_company(session, company_id)
        cart, products, stocks = _lock(session, user, company_id)
        available: dict[int, int] = {}
        for stock in stocks:
            available[stock.product_id] = available.get(stock.product_id, 0) + stock.on_hand - stock.allocated
        review = _plan(cart, products, available, company, today, locked=True)
        if review.problems:
            raise CheckoutRejected(review.problems)
        changed = changed_lines(reviewed, review.lines)
        if changed:
            raise ReviewOutdated(changed)
        _allocate(stocks, review.lines)
        order = session.get(Order, order_id)
        order.number = f"SO-{order_id:05d}"
        _settle_payment(session, user, order, cart, company, review, card_charge_id)
        order.po_reference, order.need_by = cart.po_reference, cart.need_by
        order.shipping_preference, order.payment_method = cart.shipping_preference, cart.payment_method
        order.ship_to_text = f"{cart.ship_to.label}: {cart.ship_to.one_line()}" if cart.ship_to else ""
        lines = _order_lines(order, review.lines)
        session.add_all(lines.values())
        session.flush()
        session.add_all(OrderAdjustment(order_id=order.id, order_line_id=lines[a.product_id].id,
                                        kind="goodwill_rule", rule_id=a.rule_id, description=a.description,
                                        amount=a.amount) for a in review.adjustments)
        order.subtotal, order.adjustments_total, order.total = review.subtotal, review.adjustments_total, \
            review.total
        _confirmation(order, user, review)
        _after_placing(session, list(lines.values()), today)
        value = balances.placed_value(review.subtotal, review.adjustments_total)
        balances.add_placed(session, company.id, order.id, None if order.payment_method == "card" else value,
                            {line.product_id: line.backorder for line in review.lines})
        cart_service.clear(session, cart.id)
    return order


def _after_placing(session, lines: list[OrderLine], today: date) -> None:
    """Back-office hook (issue 6): with the ``auto_add_backorders`` setting on, new backorders go straight
    onto their vendor's draft PO, linked, in this same transaction (stock rows are locked already)."""
    from portal.services.purchasing import add_backorders_to_drafts

    add_backorders_to_drafts(session, [line.product_id for line in lines if line.backordered], today)
