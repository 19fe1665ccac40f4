"""The catalog: browse, search, product pages against live stock (views only; rules live in domain/)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import acting
from portal.access import EVERYONE, allow
from portal.catalog.forms import NotifyForm, QuantityForm
from portal.clock import today
from portal.domain.availability import check_quantity
from portal.domain.display import line_view
from portal.extensions import db
from portal.models import Category, Product, ProductImage
from portal.services import ServiceError, carts, catalog, subscriptions
from portal.services.images import image_path
from portal.services.pricing import PriceBook
from portal.services.stock_facts import facts_for

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


def _price_book() -> PriceBook:
    return PriceBook.for_company(acting.acting_company())


@bp.get("/")
@allow(*EVERYONE)
def index():
    return render_template("catalog/index.html", categories=catalog.categories())


def _query_from_args(category: Category | None = None) -> catalog.CatalogQuery:
    args = request.args
    return catalog.CatalogQuery(
        text=(args.get("q") or "")[:200],
        category_id=category.id if category else args.get("category", type=int),
        vendor_id=args.get("vendor", type=int),
        in_stock=args.get("in_stock") == "1",
        orderable=args.get("orderable") == "1",
        sort=args.get("sort") if args.get("sort") in catalog.SORTS else _default_sort(),
        page=args.get("page", 1, type=int) or 1,
    )


def _listing(category: Category | None):
    query = _query_from_args(category)
    results = catalog.search(query, _price_book(), today())
    return render_template("catalog/search.html", query=query, results=results, category=category,
                           categories=catalog.categories(), vendors=catalog.vendors(),
                           sorts=catalog.SORTS)


def _default_sort() -> str:
    return "relevance" if request.args.get("q") else "name"


@bp.get("/search")
@allow(*EVERYONE)
def search():
    return _listing(None)


@bp.get("/c/<slug>")
@allow(*EVERYONE)
def category(slug: str):
    found = db.session.scalar(select(Category).where(Category.slug == slug[:120]))
    if found is None:
        abort(404)
    return _listing(found)


def _product_or_404(sku: str) -> Product:
    product = db.session.scalar(select(Product).where(Product.sku == sku[:40], Product.active))
    if product is None:
        abort(404)
    return product


def _render_product(product: Product, form: QuantityForm, verdict=None, status: int = 200):
    book = _price_book()
    facts = facts_for([product], today())[product.id]
    short = facts.available <= 0 or (verdict is not None and verdict.refused + verdict.backordered > 0)
    alternatives = catalog.alternatives(product, book, today()) if short else []
    images = db.session.scalars(select(ProductImage).where(ProductImage.product_id == product.id)
                                .order_by(ProductImage.position, ProductImage.id)).all()
    subscribed = current_user.role == "buyer" and subscriptions.is_subscribed(current_user, product.id)
    return render_template(
        "catalog/product.html", product=product, facts=facts, badge=facts.badge(staff=current_user.is_staff),
        price_table=book.table(product), images=images, alternatives=alternatives, form=form,
        verdict=verdict, notify_form=NotifyForm(), subscribed=subscribed), status


@bp.get("/p/<sku>")
@allow(*EVERYONE)
def product(sku: str):
    found = _product_or_404(sku)
    form = QuantityForm(data={"quantity": found.order_minimum})
    return _render_product(found, form)


def _judged(found: Product, form: QuantityForm):
    """(verdict, problems) for the posted quantity against live stock and the product's rules; the
    verdict is None when the quantity itself is wrong (problems then say why)."""
    facts = facts_for([found], today())[found.id]
    problems = check_quantity(form.quantity.data, found.order_minimum, found.order_multiple)
    if problems:
        return None, problems
    return line_view(form.quantity.data, facts.available, facts.rules, facts.eta,
                     backordered_open=facts.backordered_open, staff=current_user.is_staff), []


@bp.post("/p/<sku>")
@allow(*EVERYONE)
def check(sku: str):
    """Check a quantity against live stock and the product's rules."""
    found = _product_or_404(sku)
    form = QuantityForm()
    if not form.validate_on_submit():
        return _render_product(found, form, status=422)
    verdict, problems = _judged(found, form)
    if problems:
        form.quantity.errors = list(problems)
        return _render_product(found, form, status=422)
    return _render_product(found, form, verdict=verdict)


@bp.post("/p/<sku>/add")
@allow(*EVERYONE)
def add_to_cart(sku: str):
    """Add a quantity to the cart; one the rules refuse stays here with the reason (and the check)."""
    found = _product_or_404(sku)
    form = QuantityForm()
    if not form.validate_on_submit():
        return _render_product(found, form, status=422)
    verdict, problems = _judged(found, form)
    if verdict is not None and verdict.refused:
        problems = [f"Cannot add {form.quantity.data}: {verdict.refusal}."]
    if problems:
        form.quantity.errors = list(problems)
        return _render_product(found, form, verdict=verdict, status=422)
    try:
        carts.add_items(current_user.id, acting.ordering_company().id, [(found.id, form.quantity.data)])
    except ServiceError as exc:
        form.quantity.errors = [str(exc)]
        return _render_product(found, form, status=422)
    flash(f"Added {form.quantity.data} × {found.sku} to your cart.", "success")
    return redirect(url_for("checkout.cart"))


@bp.post("/p/<sku>/notify")
@allow("buyer")
def notify(sku: str):
    found = _product_or_404(sku)
    if not NotifyForm().validate_on_submit():
        abort(400)
    if request.form.get("action") == "cancel":
        subscriptions.unsubscribe(current_user, found.id)
        flash("You will not be notified about this product.", "info")
    else:
        subscriptions.subscribe(current_user, found.id)
        flash(f"We will email you when {found.name} is back in stock.", "success")
    return redirect(url_for("catalog.product", sku=found.sku))


@bp.get("/images/<stem>/<size>.jpg")
@allow(*EVERYONE)
def image(stem: str, size: str):
    if size not in ("thumb", "large"):
        abort(404)
    found = db.session.scalar(select(ProductImage).where(ProductImage.stem == stem[:40]))
    if found is None:
        abort(404)
    path = image_path(current_app, found.stem, size)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
