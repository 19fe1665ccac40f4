"""Company addresses. At most one default ship-to address per company."""

from __future__ import annotations

from sqlalchemy import update

from portal.database import write_transaction
from portal.models import Address, User
from portal.services.audit import record

FIELDS = ("label", "line1", "line2", "city", "region", "postal_code", "country", "is_default_shipping",
          "is_billing")


def save_address(actor: User, company_id: int, values: dict, address_id: int | None = None) -> Address:
    with write_transaction() as session:
        if values.get("is_default_shipping"):
            session.execute(update(Address).where(Address.company_id == company_id)
                            .values(is_default_shipping=False))
        if address_id is None:
            address = Address(company_id=company_id, **values)
            session.add(address)
            session.flush()
            record(actor, "address_created", "address", address.id, after=values)
        else:
            address = session.get(Address, address_id)
            before = {f: getattr(address, f) for f in FIELDS}
            for key, value in values.items():
                setattr(address, key, value)
            record(actor, "address_updated", "address", address.id, before=before, after=values)
    return address
