"""Admin product list (filters, bulk edit of backorder settings) and the product editor."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import allow
from portal.admin import bp
from portal.admin.forms import (
    MAX_ID,
    AlternativeForm,
    BreakForm,
    BulkForm,
    FilterForm,
    ImageForm,
    ProductForm,
    StockForm,
)
from portal.extensions import db
from portal.models import Product, ProductImage
from portal.services import ServiceError, alternatives, inventory, price_lists, product_list, products
from portal.services.product_list import ProductFilter
from portal.services.products import BulkSettings

LABELS = product_list.display_labels()


def status_for_form() -> int:
    return 422 if request.method == "POST" else 200


def product_or_404(product_id: int) -> Product:
    product = db.session.get(Product, product_id) if 0 < product_id <= MAX_ID else None
    if product is None:
        abort(404)
    return product


# --- list and bulk edit -------------------------------------------------------------------------------


def _filter_form(formdata) -> FilterForm:
    form = FilterForm(formdata=formdata)
    form.set_choices(products.categories(), products.vendors())
    return form


def _render_list(filter_form: FilterForm, flt: ProductFilter, bulk: BulkForm, status: int = 200):
    page = product_list.list_products(flt)
    return render_template("admin/products.html", filter_form=filter_form, flt=flt, page=page, bulk=bulk,
                           labels=LABELS), status


@bp.get("/products", endpoint="products")
@allow("admin")
def product_list_view():
    filter_form = _filter_form(request.args)
    flt = filter_form.to_filter(request.args.get("page", 1, type=int) or 1)
    return _render_list(filter_form, flt, BulkForm(formdata=None))


def _bulk_settings(form: BulkForm) -> BulkSettings:
    return BulkSettings(policy=form.set_policy.data or None, cap=form.set_cap.data,
                        visibility=form.set_visibility.data or None,
                        stock_display=form.set_display.data or None)


@bp.post("/products/bulk")
@allow("admin")
def bulk_edit():
    """Checked products at once; "all matching" first shows how many it will change and asks again."""
    filter_form = _filter_form(request.form)
    flt = filter_form.to_filter()
    form = BulkForm()
    if not form.validate_on_submit():
        return _render_list(filter_form, flt, form, status=422)
    settings = _bulk_settings(form)
    if form.scope.data == "all":
        if form.confirmed.data != "yes":
            return render_template("admin/bulk_confirm.html", form=form, flt=flt, settings=settings,
                                   count=product_list.count(flt), labels=LABELS)
        selection = product_list.selection(flt)
    else:
        selection = product_list.by_ids(form.product_ids.data)
    try:
        changed = products.bulk_update_settings(current_user, selection, settings)
    except ServiceError as exc:
        form.set_policy.errors = [str(exc)]
        return _render_list(filter_form, flt, form, status=422)
    flash(f"Backorder settings changed on {changed} product{'' if changed == 1 else 's'}.", "success")
    return redirect(url_for("admin.products", **flt.args()))


# --- editor -------------------------------------------------------------------------------------------


def _product_form(product: Product | None = None, fresh: bool = False) -> ProductForm:
    """The product form, read from the request unless ``fresh`` (then from the product alone)."""
    form = ProductForm(formdata=None, obj=product) if fresh else ProductForm(obj=product)
    form.set_choices(products.categories(), products.vendors())
    return form


def stock_form(fresh: bool = False) -> StockForm:
    form = StockForm(formdata=None) if fresh else StockForm()
    form.warehouse_id.choices = [(str(w.id), f"{w.code} · {w.name}") for w in inventory.warehouses()]
    return form


def render_editor(product: Product, status: int = 200, **forms):
    """The editor page; ``forms`` holds the one form just posted (with its errors), the rest are fresh."""
    breaks = price_lists.breaks_of(product.id)
    images = db.session.scalars(select(ProductImage).where(ProductImage.product_id == product.id)
                                .order_by(ProductImage.position, ProductImage.id)).all()
    context = {
        "form": forms.get("form") or _product_form(product, fresh=True),
        "alt_form": forms.get("alt_form") or AlternativeForm(formdata=None),
        "image_form": forms.get("image_form") or ImageForm(formdata=None),
        "stock_form": forms.get("stock_form") or stock_form(fresh=True),
        "break_form": forms.get("break_form") or BreakForm(formdata=None),
    }
    return render_template(
        "admin/product.html", product=product, labels=LABELS, images=images, breaks=breaks,
        alternatives=alternatives.alternatives_of(product.id), stock=inventory.stock_rows(product.id),
        movements=inventory.recent_movements(product.id), history=products.audit_history(product.id),
        list_table=price_lists.list_price_table(product, breaks), **context), status


def _attach(form: ProductForm, problems: dict[str, str]) -> None:
    for name, message in problems.items():
        form[name].errors = [*form[name].errors, message]


@bp.route("/products/new", methods=["GET", "POST"])
@allow("admin")
def new_product():
    form = _product_form()
    if not form.validate_on_submit():
        return render_template("admin/product_new.html", form=form), status_for_form()
    try:
        created = products.create_product(current_user, form.to_data())
    except products.ProductRefused as exc:
        _attach(form, exc.problems)
        return render_template("admin/product_new.html", form=form), 422
    flash(f"{created.sku} created. Add stock, pictures and alternatives below.", "success")
    return redirect(url_for("admin.product", product_id=created.id))


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@allow("admin")
def product(product_id: int):
    found = product_or_404(product_id)
    if request.method == "GET":
        return render_editor(found)
    form = _product_form(found)
    if not form.validate_on_submit():
        return render_editor(found, status=422, form=form)
    try:
        products.update_product(current_user, found.id, form.to_data())
    except products.ProductRefused as exc:
        _attach(form, exc.problems)
        return render_editor(found, status=422, form=form)
    flash("Product saved.", "success")
    return redirect(url_for("admin.product", product_id=found.id))

