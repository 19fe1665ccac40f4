from sqlalchemy import select

from portal.extensions import db
from portal.models import User
from tests.factories import make_company, make_user


def test_factories_write_on_each_backend(any_app):
    company = make_company("Acme")
    make_user(company=company, email="b@acme.example")
    assert db.session.scalar(select(User.email)) == "b@acme.example"
