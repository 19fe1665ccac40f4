"""The buyer's API keys, for their own systems to place orders through the ordering API (``portal/api``).

Registered on the ``account`` blueprint. A new key is shown once, in the response to the POST that
created it (never in a flash message or the session cookie, which would keep it), and is not cached.
Another buyer's key is 404. Views translate; ``portal.services.api_keys`` decides.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import allow
from portal.account import bp
from portal.account.forms import ApiKeyForm, RevokeApiKeyForm
from portal.services import NotFound, ServiceError, api_keys


@bp.route("/api-keys", methods=["GET", "POST"])
@allow("buyer")
def api_keys_page():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _page(form), 422 if request.method == "POST" else 200
    try:
        key, raw = api_keys.create_key(current_user, form.name.data)
    except ServiceError as exc:
        return _page(form, problem=str(exc)), 422
    # A fresh form: the name just used is not offered again.
    response = _page(ApiKeyForm(formdata=None), new_key=key, raw_key=raw)
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/api-keys/<int:key_id>/revoke")
@allow("buyer")
def revoke_api_key(key_id: int):
    if not RevokeApiKeyForm().validate_on_submit():
        abort(400)
    try:
        key = api_keys.revoke_key(current_user, key_id)
    except NotFound:
        abort(404)
    flash(f"Revoked “{key.name}” ({key.prefix}…): it can no longer place orders.", "success")
    return redirect(url_for("account.api_keys_page"))


def _page(form: ApiKeyForm, **extra) -> str:
    return render_template("account/api_keys.html", form=form, keys=api_keys.keys_of(current_user),
                           revoke_form=RevokeApiKeyForm(), max_keys=api_keys.MAX_ACTIVE_KEYS,
                           orders_url=request.host_url + "api/v1/orders", **extra)
