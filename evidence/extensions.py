"""Extensions, created unbound; create_app binds them."""
from functools import cached_property

import flask_babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


class _RequestDomain(flask_babel.Domain):
    """Flask-Babel's message domain, with the translations found once per request and locale.

    Flask-Babel finds them anew for every string it translates: the request's globals read four times and the
    locale's identifier rebuilt, 9 µs a string. A page asks for 500 to 2,000 strings (its own words, the labels of
    its lists, the top bar's), which made a tenth of the processor time of a page view. What is kept is the
    translations of one locale object: `force_locale` (the dossier, the e-mails) and `refresh` put another object
    in place, and the translations are then found again for it."""

    def get_translations(self):
        context = flask_babel._get_current_context()
        if context is None:
            return super().get_translations()
        locale = getattr(context, "babel_locale", None) or flask_babel.get_locale()
        kept = getattr(context, "evidence_translations", None)
        if kept is not None and kept[0] is locale and kept[1] is self:
            return kept[2]
        translations = super().get_translations()
        context.evidence_translations = (locale, self, translations)
        return translations


class Babel(flask_babel.Babel):
    @cached_property
    def domain_instance(self):
        return _RequestDomain(domain=self.domain)


babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
