"""Form pieces shared by several areas."""
from __future__ import annotations

from flask import flash
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget


class EmptyForm(FlaskForm):
    """Nothing but the CSRF token: buttons that post (retire, unmap, logout)."""


class VersionedForm(FlaskForm):
    # The version of the object when the form was rendered: saving over a newer one is refused.
    version = HiddenField()

    def expected_version(self):
        value = self.version.data or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


def flash_form_errors(form) -> None:
    """A form that does not validate, for a page that redirects instead of showing the form again: one message
    naming each field and what is wrong with it."""
    # The separators are the reader's: French puts a space before the colon and the semicolon.
    flash(_(" ; ").join(_("%(field)s : %(errors)s", field=form[name].label.text, errors=" ".join(map(str, errors)))
                        for name, errors in form.errors.items()), "error")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in pairs]


def optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class OwnerField(SelectField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("coerce", optional_int)
        super().__init__(*args, **kwargs)
