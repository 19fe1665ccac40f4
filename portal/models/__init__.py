"""All models, imported here so Alembic and the app see the whole schema."""

from portal.models.accounts import Address, AuditLog, Company, LoginSession, PriceList, User
from portal.models.base import Base
from portal.models.catalog import (
    Category,
    PriceBreak,
    PriceListItem,
    Product,
    ProductAlternative,
    ProductImage,
    StockSubscription,
    Vendor,
)
from portal.models.inventory import Stock, StockMovement, Warehouse
from portal.models.notifications import OutboxMessage
from portal.models.orders import Cart, CartLine, GoodwillRule, Order, OrderAdjustment, OrderLine
from portal.models.purchasing import PurchaseOrder, PurchaseOrderLine

__all__ = [
    "Address", "AuditLog", "Base", "Category", "Company", "LoginSession", "PriceList", "Product",
    "Stock", "StockMovement", "User", "Vendor", "Warehouse", "PriceBreak", "PriceListItem",
    "ProductAlternative", "ProductImage", "StockSubscription", "PurchaseOrder", "PurchaseOrderLine",
    "Cart", "CartLine", "GoodwillRule", "Order", "OrderAdjustment", "OrderLine", "OutboxMessage",
]
