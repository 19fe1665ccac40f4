"""Any staff member finds any order and reads its status (issue 7, point 4; DESIGN §1): by number,
company, the customer's PO reference or a SKU. Out of reach, the status page is read-only (no actions,
no company workspace link); within reach it is the order's own page. Buyers cannot use it."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import Company, Order
from tests.factories import make_product, set_stock
from tests.web.orders import place_order


def _lookup(client, q: str) -> str:
    response = client.get(f"/rep/orders?q={q}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_rep_finds_an_order_of_another_reps_company_by_number_company_po_or_sku(app, world, client_for):
    product = make_product(sku="LOOK-42", name="Lookup widget")
    set_stock(product, 10)
    number = place_order(world.buyer_a, [(product, 2)], po="PO-LOOKUP-9")
    company = db.session.get(Company, world.company_a).name
    rep_b = client_for("rep_b")  # looks after company B only
    for query in (number, number[:-1], company.split()[0].lower(), "lookup-9", "look-4", "LOOK-42"):
        assert number in _lookup(rep_b, query), query
    assert number not in _lookup(rep_b, "NO-SUCH-THING")


def test_out_of_reach_the_status_page_is_read_only(app, world, client_for):
    rep_b = client_for("rep_b")
    page = rep_b.get(f"/rep/orders/{world.order_a}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert world.order_a in text and "Timeline" in text and "looked after by another member of staff" in text
    assert "Staff actions" not in text and "/cancel" not in text and "/goodwill" not in text
    with app.test_request_context():
        assert url_for("rep.company", company_id=world.company_a) not in text
        assert url_for("account.order_pdf", number=world.order_a) not in text
    # Acting stays out of reach.
    assert rep_b.get(f"/account/orders/{world.order_a}").status_code == 404


def test_within_reach_the_status_page_is_the_orders_own_page(app, world, client_for):
    for persona in ("rep_a", "admin"):
        response = client_for(persona).get(f"/rep/orders/{world.order_a}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/account/orders/{world.order_a}")


def test_lookup_marks_orders_of_other_reps_companies(app, world, client_for):
    text = _lookup(client_for("rep_b"), world.order_a)
    assert "other rep" in text
    assert "other rep" not in _lookup(client_for("rep_a"), world.order_a)


def test_buyers_cannot_look_up_orders(app, world, client_for):
    buyer = client_for("buyer_b")
    assert buyer.get("/rep/orders?q=SO").status_code in (403, 404)
    assert buyer.get(f"/rep/orders/{world.order_a}").status_code in (403, 404)


def test_bad_lookup_input_gets_a_page_not_an_error(app, world, client_for):
    rep = client_for("rep_a")
    for query in ("%25", "_", "x" * 500, "'; DROP TABLE orders; --", "\\"):
        assert rep.get(f"/rep/orders?q={query}").status_code == 200
    assert rep.get("/rep/orders?q=%00").status_code == 400  # NUL bytes are refused site-wide
    assert rep.get("/rep/orders/" + "9" * 30).status_code == 404
    assert rep.get("/rep/orders/SO-99999999").status_code == 404
    assert db.session.scalar(select(Order).where(Order.number == world.order_a)) is not None
