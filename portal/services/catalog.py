"""Catalog reads: search, listing, product pages and alternatives.

Search uses the database's own full-text index (SQLite FTS5, PostgreSQL tsvector + GIN; see
``portal/models/search.py``), never similarity functions. An exact SKU match comes first. Every page
runs a fixed number of queries, however many products it shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Integer,
    Select,
    and_,
    any_,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Category, OrderLine, Product, ProductAlternative, ProductImage, Stock, Vendor
from portal.services.pricing import PriceBook
from portal.services.stock_facts import StockFacts, facts_for

SORTS = {"relevance": "Best match", "name": "Name A–Z", "price_asc": "Price, low to high",
         "price_desc": "Price, high to low", "newest": "Newest"}
PER_PAGE = 24
MAX_PAGE = 400
#: Counting stops here ("1,000+ results"): an exact count of a huge match set costs more than it tells.
COUNT_CAP = 1000
MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
#: Words that say nothing about a product. PostgreSQL's ``english`` configuration drops them from
#: queries; they are dropped on SQLite too, where "of" alone matches most of a catalog and made a
#: filtered search read 100,000 text hits (bench/RESULTS.md). A query of stop words only keeps them.
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "were", "will", "with",
})


@dataclass(frozen=True)
class CatalogQuery:
    text: str = ""
    category_id: int | None = None
    vendor_id: int | None = None
    in_stock: bool = False
    orderable: bool = False
    sort: str = "relevance"
    page: int = 1
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class Card:
    product: Product
    facts: StockFacts
    unit_price: Decimal
    thumbnail: ProductImage | None = None


@dataclass
class Results:
    cards: list[Card]
    total: int
    total_is_capped: bool
    page: int
    per_page: int
    exact_sku: Product | None = None
    terms: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_next(self) -> bool:
        """A capped count does not bound the pages of a plain listing: a full page may have a next one."""
        if self.total_is_capped:
            return len(self.cards) == self.per_page and self.page < MAX_PAGE
        return self.page < self.pages


def search_terms(raw: str) -> list[str]:
    """Words of the query, lower-cased, at most ``MAX_TERMS`` of at most 40 characters. Everything
    else (quotes, operators, SQL) is dropped, so no input can change the shape of the query."""
    words = [w.lower()[:40] for w in _WORD.findall(raw or "")]
    meaningful = [w for w in words if w not in STOP_WORDS]
    return (meaningful or words)[:MAX_TERMS]


_FTS = table("product_search", column("rowid"))
#: bm25 column weights: a hit in the SKU counts most, then the name, then the description.
_BM25 = "bm25(product_search, 10.0, 5.0, 1.0)"


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _facets(query: CatalogQuery) -> list[tuple[str, int]]:
    """The filters the text index answers itself (see portal/models/search.py)."""
    return [(kind, value) for kind, value in (("c", query.category_id), ("v", query.vendor_id)) if value]


def _facet_tsquery(facets: list[tuple[str, int]]):
    """PostgreSQL: the facet lexemes ("#c12", "#v46"), verbatim (a cast, not to_tsquery's parser)."""
    return cast(literal(" & ".join(f"'#{kind}{value:d}'" for kind, value in facets)), TSQUERY)


def _with_text(stmt: Select, terms: list[str], facets: list[tuple[str, int]],
               name_only: bool = False) -> tuple[Select, object]:
    """Restrict to products matching every term, anywhere or (``name_only``) in the SKU or name, and
    every facet; returns the rank expression.

    Words match whole (after stemming), except the last, which also matches as a prefix: the buyer
    may still be typing it ("zinc pla" finds "zinc plated"). Prefixing every word made PostgreSQL
    merge the posting lists of every lexeme starting with "mm", "a2"..., twice the time of the rest of
    the query (bench/RESULTS.md). A one-character last word stays whole: a one-letter prefix ("a"*)
    expands to a good part of the vocabulary (about 95 ms on SQLite at 500,000 products)."""
    prefixed = [i == len(terms) - 1 and len(t) > 1 for i, t in enumerate(terms)]
    if _postgres():
        weights = "AB" if name_only else ""  # A: SKU, B: name (see the generated column)
        tsquery = func.to_tsquery("english", " & ".join(
            f"{t}:*{weights}" if prefix else (f"{t}:{weights}" if weights else t)
            for t, prefix in zip(terms, prefixed, strict=True)))
        if facets:
            tsquery = tsquery.op("&&")(_facet_tsquery(facets))
        vector = literal_column("products.search_vector")
        return stmt.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery).desc()
    words = " ".join(f'"{t}"*' if prefix else f'"{t}"' for t, prefix in zip(terms, prefixed, strict=True))
    match = f"{{sku name}} : ({words})" if name_only else f"{{sku name description}} : ({words})"
    match += "".join(f' AND facets : "{kind}{value:d}"' for kind, value in facets)
    stmt = stmt.join(_FTS, _FTS.c.rowid == Product.id).where(
        text("product_search MATCH :match").bindparams(match=match))
    return stmt, literal_column(_BM25)


def in_stock_clause():
    """Available > 0 ⇔ some stock row has on_hand > allocated (each row has allocated ≤ on_hand)."""
    return exists().where(Stock.product_id == Product.id, Stock.on_hand > Stock.allocated)


def orderable_clause():
    """Something can be ordered: in stock, or backorders allowed (a cap with room left).

    The in-stock test is a correlated scalar subquery, not EXISTS: PostgreSQL turns an OR'ed EXISTS
    into a hashed subplan that reads the whole stock table first (about 150 ms at 500,000 products),
    while the scalar subquery probes ``ix_stock_available`` per row and stops at the first hit."""
    on_backorder = (select(func.coalesce(func.sum(OrderLine.backordered), 0))
                    .where(OrderLine.product_id == Product.id).scalar_subquery())
    in_stock = (select(literal(True)).where(Stock.product_id == Product.id, Stock.on_hand > Stock.allocated)
                .limit(1).scalar_subquery())
    return or_(Product.backorder_policy == "allow",
               and_(Product.backorder_policy == "allow_up_to", Product.backorder_cap > on_backorder),
               in_stock.is_not(None))


def _filtered(query: CatalogQuery, terms: list[str], name_only: bool = False) -> tuple[Select, object]:
    """Products matching the query. With words, the category and vendor filters go into the text match
    (facet tokens); without, they use the B-tree indexes."""
    stmt = select(Product.id).where(Product.active)
    rank = None
    if terms:
        stmt, rank = _with_text(stmt, terms, _facets(query), name_only)
    elif query.category_id and query.vendor_id and _postgres():
        # Both filters in one GIN probe: the planner otherwise reads a whole category and filters it by
        # vendor (80 ms for an empty combination at 500,000 products; 2 ms this way).
        stmt = stmt.where(literal_column("products.search_vector").op("@@")(_facet_tsquery(_facets(query))))
    else:
        if query.category_id:
            stmt = stmt.where(Product.category_id == query.category_id)
        if query.vendor_id:
            stmt = stmt.where(Product.vendor_id == query.vendor_id)
    if query.in_stock:
        stmt = stmt.where(in_stock_clause())
    elif query.orderable:  # in stock implies orderable
        stmt = stmt.where(orderable_clause())
    return stmt, rank


def _ordered(stmt: Select, query: CatalogQuery, rank) -> Select:
    sort = query.sort if query.sort in SORTS else "relevance"
    if sort == "relevance" and rank is not None:
        return stmt.order_by(rank, Product.id.desc())  # equal rank: newest first
    order = {
        "price_asc": (Product.price.asc(), Product.id), "price_desc": (Product.price.desc(), Product.id),
        "newest": (Product.id.desc(),),
    }.get(sort, (Product.name, Product.id))
    return stmt.order_by(*order)


def _broad(query: CatalogQuery, terms: list[str], name_only: bool) -> tuple[Select, object]:
    """SQLite, a search matching more than COUNT_CAP products: sort and page through the newest
    COUNT_CAP matches (for "best match", those with every word in the SKU or name), streamed from the
    text index in rowid order, instead of sorting every match. Ranking 100,000 matches costs more than
    a page view may; a buyer narrows such a search with another word or a filter."""
    stmt, _ = _filtered(query, terms, name_only)
    candidates = stmt.order_by(_FTS.c.rowid.desc()).limit(COUNT_CAP).subquery()
    outer = select(Product.id).where(Product.id.in_(select(candidates.c.id)))
    return outer, Product.id.desc()  # bm25 over an id list defeats FTS5; newest first among the best


def _page_ids(stmt: Select, rank, query: CatalogQuery, page: int) -> list[int]:
    return list(db.session.scalars(
        _ordered(stmt, query, rank).limit(query.per_page).offset((page - 1) * query.per_page)))


def search(query: CatalogQuery, price_book: PriceBook, today: date) -> Results:
    terms = search_terms(query.text)
    page = min(max(query.page, 1), MAX_PAGE)
    stmt, rank = _filtered(query, terms)
    if _postgres():
        ids, counted = _search_postgres(stmt, rank, query, terms, page)
    else:
        ids, counted = _search_sqlite(stmt, rank, query, terms, page)
    exact = _exact_sku(query.text) if page == 1 else None
    if exact is not None:
        ids = [exact.id, *[i for i in ids if i != exact.id]][: query.per_page]
    return Results(cards=cards_for(ids, price_book, today), total=min(counted, COUNT_CAP),
                   total_is_capped=counted > COUNT_CAP, page=page, per_page=query.per_page,
                   exact_sku=exact, terms=terms)


def _search_sqlite(stmt: Select, rank, query: CatalogQuery, terms: list[str],
                   page: int) -> tuple[list[int], int]:
    """SQLite: a capped count, then the page (FTS5 drives every text query; bm25 ranks in the index)."""
    counted = db.session.scalar(select(func.count()).select_from(stmt.limit(COUNT_CAP + 1).subquery()))
    if terms and counted > COUNT_CAP:
        relevance = query.sort not in SORTS or query.sort == "relevance"
        ids = _page_ids(*_broad(query, terms, name_only=relevance), query, page)
        if relevance and not ids:  # every word is in descriptions only
            ids = _page_ids(*_broad(query, terms, name_only=False), query, page)
    else:
        ids = _page_ids(stmt, rank, query, page)
    return ids, counted


def _search_postgres(stmt: Select, rank, query: CatalogQuery, terms: list[str],
                     page: int) -> tuple[list[int], int]:
    """PostgreSQL: one bounded query finds up to COUNT_CAP + 1 matches (in the order the GIN bitmap
    yields them, no sort); the page is then sorted from that id list. That is the count and the
    candidate window in one statement, and the planner never has to guess how many rows a text match
    selects: an ORDER BY name/price/id over a text match let it walk a whole B-tree index testing
    ``@@`` row by row (1.3 s for "gal" in one category sorted by name). Past COUNT_CAP matches, the
    page ranks the first COUNT_CAP found, of any field (SKU and name weigh more than the description
    in ``ts_rank``, so name hits come first). A plain listing past the cap pages through its B-tree
    index instead."""
    found = list(db.session.scalars(stmt.limit(COUNT_CAP + 1)))
    if len(found) > COUNT_CAP and not terms:
        return _page_ids(stmt, rank, query, page), len(found)
    window = select(Product.id).where(Product.id == any_(cast(literal(found[:COUNT_CAP]), ARRAY(Integer))))
    return _page_ids(window, rank, query, page), len(found)


def _exact_sku(raw: str) -> Product | None:
    candidate = (raw or "").replace("\x00", "").strip().upper()
    if not candidate or len(candidate) > 40:
        return None
    return db.session.scalar(select(Product).where(Product.sku == candidate, Product.active))


def cards_for(ids: list[int], price_book: PriceBook, today: date) -> list[Card]:
    """Cards in the order of ``ids``: products, vendors, stock, PO lines, prices and thumbnails in a
    fixed number of queries."""
    if not ids:
        return []
    products = {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_(ids)).options(selectinload(Product.vendor)))}
    ordered = [products[i] for i in ids if i in products]
    facts = facts_for(ordered, today)
    prices = price_book.unit_prices(ordered)
    thumbs = first_images([p.id for p in ordered])
    return [Card(p, facts[p.id], prices[p.id], thumbs.get(p.id)) for p in ordered]


def first_images(product_ids: list[int]) -> dict[int, ProductImage]:
    if not product_ids:
        return {}
    rows = db.session.scalars(select(ProductImage).where(ProductImage.product_id.in_(product_ids))
                              .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id))
    first: dict[int, ProductImage] = {}
    for image in rows:
        first.setdefault(image.product_id, image)
    return first


def categories() -> list[Category]:
    """All categories by name. (No product counts: counting 500k products per page view costs seconds.)"""
    return list(db.session.scalars(select(Category).order_by(Category.name)))


def vendors() -> list[Vendor]:
    return list(db.session.scalars(select(Vendor).where(Vendor.active).order_by(Vendor.name)))


def alternatives(product: Product, price_book: PriceBook, today: date, limit: int = 4) -> list[Card]:
    """Curated alternatives first, then automatic ones (same category, nearest price within -40%/+50%);
    only products in stock now, so the buyer is never offered something that cannot be ordered."""
    curated = list(db.session.scalars(
        select(ProductAlternative.alternative_id)
        .join(Product, Product.id == ProductAlternative.alternative_id)
        .where(ProductAlternative.product_id == product.id, Product.active, in_stock_clause())
        .order_by(ProductAlternative.position).limit(limit)))
    ids = list(curated)
    if len(ids) < limit:
        ids.extend(_nearest_by_price(product, exclude=ids, wanted=limit - len(ids)))
    return cards_for(ids, price_book, today)


def _nearest_by_price(product: Product, exclude: list[int], wanted: int) -> list[int]:
    """Walk the (category, price) index up and down from the product's price: a few rows each way
    instead of sorting the whole category by distance."""
    base = select(Product.id, Product.price).where(
        Product.category_id == product.category_id, Product.id != product.id,
        Product.id.not_in(exclude or [0]), Product.active, in_stock_clause())
    above = db.session.execute(base.where(Product.price >= product.price,
                                          Product.price <= product.price * Decimal("1.5"))
                               .order_by(Product.price, Product.id).limit(wanted)).all()
    below = db.session.execute(base.where(Product.price < product.price,
                                          Product.price >= product.price * Decimal("0.6"))
                               .order_by(Product.price.desc(), Product.id).limit(wanted)).all()
    nearest = sorted(above + below, key=lambda row: (abs(row.price - product.price), row.id))
    return [row.id for row in nearest[:wanted]]
