"""All models, imported here so Alembic and the app see the whole schema."""

from portal.models.account_notes import AccountNote
from portal.models.accounts import Address, AuditLog, Company, LoginSession, PriceList, User
from portal.models.api_keys import ApiKey
from portal.models.balances import CompanyBalance, ProductBackorders
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
from portal.models.notifications import Notification, NotificationPreference, OutboxMessage
from portal.models.orders import Cart, CartLine, GoodwillRule, Order, OrderAdjustment, OrderLine
from portal.models.payments import (
    CardCharge,
    CardRefund,
    CreditException,
    CreditNote,
    Invoice,
    ManualPayment,
    PaymentCard,
    StripeEvent,
)
from portal.models.purchasing import (
    Allocation,
    PoLineLink,
    ProductReorderRule,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
)
from portal.models.settings import GoodwillLimit, PortalSetting
from portal.models.shipping import OrderEvent, PlannedShipment, PlannedShipmentLine, Shipment, ShipmentLine

__all__ = [
    "AccountNote", "ApiKey", "CompanyBalance", "ProductBackorders",
    "Address", "AuditLog", "Base", "Category", "Company", "LoginSession", "PriceList", "Product",
    "Stock", "StockMovement", "User", "Vendor", "Warehouse", "PriceBreak", "PriceListItem",
    "ProductAlternative", "ProductImage", "StockSubscription", "PurchaseOrder", "PurchaseOrderLine",
    "Cart", "CartLine", "GoodwillRule", "Order", "OrderAdjustment", "OrderLine", "OutboxMessage",
    "Allocation", "PoLineLink", "ProductReorderRule", "Receipt", "ReceiptLine", "GoodwillLimit",
    "PortalSetting", "OrderEvent", "Shipment", "ShipmentLine", "PlannedShipment", "PlannedShipmentLine",
    "CardCharge", "CardRefund", "CreditException", "CreditNote", "Invoice", "ManualPayment", "PaymentCard",
    "StripeEvent", "Notification", "NotificationPreference",
]
