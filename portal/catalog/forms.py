from flask_wtf import FlaskForm
from wtforms import IntegerField, SubmitField
from wtforms.validators import InputRequired, NumberRange, StopValidation

#: A line of more than this many units is refused as a typo rather than backordered.
MAX_LINE_QUANTITY = 100_000


class QuantityField(IntegerField):
    """An integer field whose parse error speaks plainly (and survives "1e9", "12.5", "abc")."""

    def process_formdata(self, valuelist):
        if not valuelist or valuelist[0].strip() == "":
            self.data = None
            return
        raw = valuelist[0].strip().replace(",", "")
        if not raw.lstrip("-").isdigit() or len(raw) > 12:
            self.data = None
            raise ValueError("Enter a whole number of units, like 12.")
        self.data = int(raw)

    def pre_validate(self, form):
        if self.process_errors:  # one clear message, not the parse error plus the range error
            raise StopValidation()


class QuantityForm(FlaskForm):
    quantity = QuantityField("Quantity", validators=[
        InputRequired("Enter a quantity."),
        NumberRange(min=1, max=MAX_LINE_QUANTITY,
                    message=f"Enter a whole number from 1 to {MAX_LINE_QUANTITY:,}."),
    ], render_kw={"inputmode": "numeric"})
    submit = SubmitField("Check availability")


class NotifyForm(FlaskForm):
    submit = SubmitField("Notify me when back in stock")
