"""Integration tests end by asserting the invariants of DESIGN §5 (stock, order lines, caps).

A test that deliberately writes stock outside the ledger (to test the database layer itself) opts out
with ``@pytest.mark.no_invariants``.
"""

from __future__ import annotations

import pytest

from tests.invariants import assert_invariants


@pytest.fixture(autouse=True)
def _assert_invariants_after_each_test(request):
    apps = [name for name in ("any_app", "app") if name in request.fixturenames]
    if not apps or request.node.get_closest_marker("no_invariants"):
        yield
        return
    request.getfixturevalue(apps[0])  # set up first, so our check runs before its teardown
    yield
    assert_invariants()
