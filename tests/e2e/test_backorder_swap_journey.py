"""A late backorder swapped to an alternative (issue 7): an admin moves a PO line's expected date past a
buyer's deadline → the rep's dashboard shows the line at risk → the buyer reads the notice, sees the late
line on the order page and swaps it to an alternative that ships now → the order shows the alternative
ready to ship and the late units cancelled → the rep's dashboard no longer shows the risk. Every page
passes axe, on a desktop and at 390px; screenshots saved."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    MOBILE,
    ROOT,
    USERS,
    LiveServer,
    _server_env,
    assert_no_horizontal_scroll,
    check_a11y,
    login,
    logout,
    screenshot,
)

LATE, READY = "SWAP-LATE", "SWAP-READY"

#: Run against the live server's database with the portal's own services: a product waiting on a sent
#: PO due in 5 days, its curated alternative with 40 on the shelf, and the Acme buyer's order of 4 needed
#: in 8 days (on time, for now). Prints the order number, PO id and PO line id.
PREPARE = """
import json
from datetime import timedelta
from decimal import Decimal
from sqlalchemy import select
from portal import create_app
from portal.clock import today
from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Product, User, Warehouse
from portal.services import alternatives, carts, inventory, ordering, purchasing

app = create_app()
with app.app_context():
    admin = db.session.scalar(select(User).where(User.email == "admin@northwind.example"))
    buyer = db.session.scalar(select(User).where(User.email == "buyer@acme-hardware.example"))
    model = db.session.scalar(select(Product).where(Product.sku == "DEMO-PLENTY"))
    with write_transaction() as s:
        late = Product(sku="SWAP-LATE", name="Brass hinge, 4 inch", category_id=model.category_id,
                       vendor_id=model.vendor_id, price=Decimal("12.00"), backorder_policy="allow")
        ready = Product(sku="SWAP-READY", name="Steel hinge, 4 inch", category_id=model.category_id,
                        vendor_id=model.vendor_id, price=Decimal("11.00"), backorder_policy="block")
        s.add_all([late, ready])
    warehouse = db.session.scalar(select(Warehouse.id).order_by(Warehouse.id))
    inventory.adjust_stock(admin, ready.id, warehouse, 40, "E2E: a delivery")
    alternatives.add_alternative(admin, late.id, "SWAP-READY")
    po = purchasing.create_draft(admin, model.vendor_id)
    purchasing.add_line(admin, po.id, "SWAP-LATE", 10, today() + timedelta(days=5))
    purchasing.change_status(admin, po.id, "sent", today(), below_minimum_reason="E2E: a small top-up")
    db.session.rollback()
    company = db.session.get(Company, buyer.company_id)
    cart = carts.find_cart(buyer.id, company.id)
    if cart is not None:
        with write_transaction() as s:
            carts.clear(s, cart.id)
    carts.add_items(buyer.id, company.id, [(late.id, 4)])
    cart = carts.find_cart(buyer.id, company.id)
    address = company.addresses[0].id
    carts.save_details(buyer.id, company.id, carts.CheckoutDetails(
        address, "E2E-SWAP", today() + timedelta(days=8), "ship_partial"))
    db.session.rollback()
    buyer, company = db.session.get(User, buyer.id), db.session.get(Company, company.id)
    review = ordering.review_cart(buyer, company, today())
    assert not review.problems, review.problems
    order = ordering.place_order(buyer, company.id, "e2e-swap-journey-token", review.fingerprint, today())
    db.session.rollback()
    po = db.session.get(type(po), po.id)
    print(json.dumps({"order": order.number, "po": po.id, "po_line": po.lines[0].id}))
"""


def _prepare(live_server: LiveServer) -> dict:
    done = subprocess.run([sys.executable, "-c", PREPARE], cwd=ROOT, env=_server_env(live_server.database),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _at_risk(page: Page):
    return page.locator("section", has=page.get_by_role("heading", name=re.compile("^Backorders at risk")))


def test_a_late_backorder_is_swapped_to_an_alternative_and_the_risk_goes_away(open_page, live_server):
    made = _prepare(live_server)
    order, new_date = made["order"], date.today() + timedelta(days=12)

    admin = open_page()
    login(admin, USERS["admin"])
    admin.goto(f"/admin/purchase-orders/{made['po']}")
    admin.locator(f"#line{made['po_line']}-expected_date").fill(new_date.isoformat())
    admin.get_by_role("button", name=f"Save {LATE}").click()
    expect(admin.locator("main")).to_contain_text("ETAs of the backorders waiting on it follow the new date")
    check_a11y(admin, "purchase order with a new date")
    screenshot(admin, "swap-admin-po-date-moved")
    logout(admin)

    rep = open_page()
    login(rep, USERS["rita"])
    rep.goto("/rep/")
    expect(_at_risk(rep)).to_contain_text(LATE)
    expect(_at_risk(rep)).to_contain_text(order)
    check_a11y(rep, "rep dashboard with the risk")
    screenshot(rep, "swap-rep-dashboard-at-risk")

    buyer = open_page()
    login(buyer, USERS["buyer"])
    buyer.goto("/account/notifications")
    expect(buyer.locator("main")).to_contain_text(f"{LATE} on order {order}")
    check_a11y(buyer, "buyer notifications")
    screenshot(buyer, "swap-buyer-notifications")
    buyer.goto(f"/account/orders/{order}")
    choices = buyer.get_by_role("region", name="Swap a late backorder")
    expect(choices).to_contain_text(f"{LATE} Brass hinge, 4 inch: 4 on backorder")
    expect(choices).to_contain_text("after your deadline")
    expect(choices).to_contain_text(f"{READY} Steel hinge, 4 inch")
    expect(choices).to_contain_text(re.compile(r"40 in stock\s+4 × \$\d+\.\d\d\s*=\s*\$\d+\.\d\d"))
    check_a11y(buyer, "order page with a late line")
    screenshot(buyer, "swap-buyer-order-late")

    phone = open_page(mobile=True)
    login(phone, USERS["buyer"])
    phone.goto(f"/account/orders/{order}")
    expect(phone.get_by_role("button", name=re.compile(f"^Swap to {READY}"))).to_be_visible()
    check_a11y(phone, "order page with a late line, 390px")
    assert_no_horizontal_scroll(phone, MOBILE["width"])
    screenshot(phone, "swap-buyer-order-late-mobile")

    choices.get_by_role("button", name=re.compile(f"^Swap to {READY}")).click()
    expect(buyer.get_by_role("alert").or_(buyer.locator(".alert-success")).first).to_contain_text(
        f"Swapped 4 × {LATE} for {READY}: ready to ship.")
    expect(buyer.get_by_role("region", name="Swap a late backorder")).to_have_count(0)
    lines = buyer.locator("table.order-lines tbody tr")
    expect(lines.filter(has_text=READY)).to_contain_text("Ships now")
    expect(lines.filter(has_text=LATE).locator("td[data-label='Cancelled']")).to_have_text("4")
    expect(buyer.locator(".order-timeline")).to_contain_text(f"4 × {LATE} cancelled: swapped for {READY}")
    check_a11y(buyer, "order page after the swap")
    screenshot(buyer, "swap-buyer-order-swapped")
    phone.reload()
    check_a11y(phone, "order page after the swap, 390px")
    assert_no_horizontal_scroll(phone, MOBILE["width"])
    screenshot(phone, "swap-buyer-order-swapped-mobile")

    rep.reload()
    expect(_at_risk(rep)).not_to_contain_text(LATE)
    screenshot(rep, "swap-rep-dashboard-after")
