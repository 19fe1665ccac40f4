"""Automatic goodwill rules (admins): list, create, edit, switch on and off. Registered on ``admin``.

The form parses; :func:`portal.domain.goodwill.rule_problems` says which parameters a kind needs (the same
check the service makes before it writes), so every problem shows at once, next to its field.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, StopValidation

from portal.access import allow
from portal.admin import bp
from portal.admin.forms import MAX_ID, AmountField, not_blank, strip
from portal.domain.goodwill import KIND_NAMES, describe, rule_problems
from portal.extensions import db
from portal.formatting import money
from portal.models import GoodwillRule
from portal.services import goodwill_rules
from portal.services.goodwill_rules import RuleData, RuleRefused


class DaysField(IntegerField):
    """A whole number of days; "abc", "1.5" and "1e9" get one plain message."""

    def process_formdata(self, valuelist):
        if not valuelist or valuelist[0].strip() == "":
            self.data = None
            return
        raw = valuelist[0].strip()
        if not raw.lstrip("-").isdigit() or len(raw) > 9:
            self.data = None
            raise ValueError("Enter a whole number of days, like 14.")
        self.data = int(raw)

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()


class KindField(RadioField):
    def pre_validate(self, form):
        if self.data not in KIND_NAMES:
            raise StopValidation("Choose the kind of rule.")


class GoodwillRuleForm(FlaskForm):
    name = StringField("Name (buyers see it on their order)", filters=[strip], validators=[
        InputRequired("Enter a name for the rule."), not_blank("Enter a name for the rule."),
        Length(max=120, message="A name has at most 120 characters.")])
    kind = KindField("Kind of rule", choices=list(KIND_NAMES.items()))
    days = DaysField("More than this many days between ordering and the ETA",
                     render_kw={"inputmode": "numeric"})
    percent = AmountField("Percent off the backordered units’ value",
                          message="Enter a percentage, like 5 or 7.5.", render_kw={"inputmode": "decimal"})
    amount = AmountField("Credit per line", message="Enter an amount, like 25.00.",
                         render_kw={"inputmode": "decimal"})

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.kind.errors:
            return False
        problems = rule_problems(self.kind.data, self.days.data, self.percent.data, self.amount.data)
        for name, message in problems.items():
            field = self[name]
            if not field.errors:  # a parse error already says what is wrong
                field.errors = [*field.errors, message]
        return valid and not problems

    def to_data(self) -> RuleData:
        return RuleData(self.name.data, self.kind.data, self.days.data, self.percent.data, self.amount.data)


class RuleActiveForm(FlaskForm):
    active = HiddenField(validators=[InputRequired(), AnyOf(["yes", "no"])])


def _rule_or_404(rule_id: int) -> GoodwillRule:
    found = db.session.get(GoodwillRule, rule_id) if 0 < rule_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


def _status() -> int:
    return 422 if request.method == "POST" else 200


def rule_text(rule: GoodwillRule) -> str:
    return describe(rule.kind, rule.days, rule.percent, rule.amount, money)


@bp.get("/goodwill", endpoint="goodwill_rules")
@allow("admin")
def goodwill_rules_index():
    return render_template("admin/goodwill_rules.html", rows=goodwill_rules.rules_with_usage(),
                           rule_text=rule_text)


@bp.route("/goodwill/new", methods=["GET", "POST"])
@allow("admin")
def new_goodwill_rule():
    form = GoodwillRuleForm()
    if not form.validate_on_submit():
        return render_template("admin/goodwill_rule_form.html", form=form, rule=None), _status()
    try:
        rule = goodwill_rules.create_rule(current_user, form.to_data())
    except RuleRefused as exc:
        _show(form, exc)
        return render_template("admin/goodwill_rule_form.html", form=form, rule=None), 422
    flash(f"Goodwill rule “{rule.name}” created. It applies to orders placed from now on.", "success")
    return redirect(url_for("admin.goodwill_rules"))


@bp.route("/goodwill/<int:rule_id>", methods=["GET", "POST"])
@allow("admin")
def goodwill_rule(rule_id: int):
    rule = _rule_or_404(rule_id)
    form = GoodwillRuleForm(obj=rule)
    if not form.validate_on_submit():
        return _edit_page(form, rule, _status())
    try:
        goodwill_rules.update_rule(current_user, rule.id, form.to_data())
    except RuleRefused as exc:
        _show(form, exc)
        return _edit_page(form, rule, 422)
    flash(f"Goodwill rule “{form.name.data}” saved. Orders placed earlier keep their adjustments.", "success")
    return redirect(url_for("admin.goodwill_rules"))


@bp.post("/goodwill/<int:rule_id>/active")
@allow("admin")
def set_goodwill_rule_active(rule_id: int):
    rule = _rule_or_404(rule_id)
    form = RuleActiveForm()
    if not form.validate_on_submit():
        abort(400)
    goodwill_rules.set_rule_active(current_user, rule.id, form.active.data == "yes")
    db.session.refresh(rule)
    if rule.active:
        flash(f"Goodwill rule “{rule.name}” is active: it applies to orders placed from now on.", "success")
    else:
        flash(f"Goodwill rule “{rule.name}” is inactive: new orders no longer get it.", "success")
    if request.form.get("next") == "edit":
        return redirect(url_for("admin.goodwill_rule", rule_id=rule.id))
    return redirect(url_for("admin.goodwill_rules"))


def _edit_page(form: GoodwillRuleForm, rule: GoodwillRule, status: int):
    return render_template("admin/goodwill_rule_form.html", form=form, rule=rule, rule_text=rule_text(rule),
                           toggle=RuleActiveForm(formdata=None)), status


def _show(form: GoodwillRuleForm, refused: RuleRefused) -> None:
    for name, message in refused.problems.items():
        form[name].errors = [message]
