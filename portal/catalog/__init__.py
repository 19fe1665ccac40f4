"""The catalog: the buyer's entry point (browsing and search grow here)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import func, select

from portal.access import EVERYONE, allow
from portal.extensions import db
from portal.models import Category, Product, Stock

bp = Blueprint("catalog", __name__, url_prefix="/catalog")
PAGE_SIZE = 25


@bp.get("/")
@allow(*EVERYONE)
def index():
    counts = (
        select(Category, func.count(Product.id))
        .join(Product, (Product.category_id == Category.id) & Product.active, isouter=True)
        .group_by(Category.id).order_by(Category.name)
    )
    categories = db.session.execute(counts).all()
    return render_template("catalog/index.html", categories=categories)


@bp.get("/c/<slug>")
@allow(*EVERYONE)
def category(slug: str):
    cat = db.session.scalar(select(Category).where(Category.slug == slug))
    if cat is None:
        abort(404)
    page = request.args.get("page", 1, type=int)
    if page < 1:
        page = 1
    available = (
        select(Stock.product_id, func.sum(Stock.on_hand - Stock.allocated).label("available"))
        .group_by(Stock.product_id).subquery()
    )
    query = (
        select(Product, func.coalesce(available.c.available, 0))
        .join(available, available.c.product_id == Product.id, isouter=True)
        .where(Product.category_id == cat.id, Product.active)
        .order_by(Product.name)
    )
    total = db.session.scalar(select(func.count()).select_from(
        select(Product.id).where(Product.category_id == cat.id, Product.active).subquery()))
    rows = db.session.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("catalog/category.html", category=cat, rows=rows, page=page, pages=pages,
                           total=total)
