"""All models, imported here so Alembic and the app see the whole schema."""

from portal.models.accounts import Address, AuditLog, Company, LoginSession, PriceList, User
from portal.models.base import Base
from portal.models.catalog import Category, Product, Vendor
from portal.models.inventory import Stock, StockMovement, Warehouse

__all__ = [
    "Address", "AuditLog", "Base", "Category", "Company", "LoginSession", "PriceList", "Product",
    "Stock", "StockMovement", "User", "Vendor", "Warehouse",
]
