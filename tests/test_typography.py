"""Dates, numbers, sizes, shares in the reader's locale, and French spacing in HTML."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from flask import Flask, render_template_string
from flask_babel import Babel, force_locale

from evidence.presentation import typography as t
from evidence.presentation.typography import NBSP, NNBSP


@pytest.fixture
def bare_app():
    """Flask-Babel alone: the filters need a locale, not a database."""
    app = Flask(__name__)
    Babel(app, locale_selector=lambda: "fr")
    t.register(app)
    with app.app_context():
        yield app


def test_long_date_french_ordinal_and_english(bare_app):
    with force_locale("fr"):
        assert t.long_date(date(2026, 12, 1)) == "1er décembre 2026"
        assert t.long_date(date(2026, 12, 2)) == "2 décembre 2026"
        assert t.long_date("2026-08-01") == "1er août 2026"
        assert t.long_date("2026-12-01T10:30:00+00:00") == "1er décembre 2026"
        assert t.long_date(datetime(2026, 3, 15, 9, tzinfo=timezone.utc)) == "15 mars 2026"
    with force_locale("en"):
        assert t.long_date(date(2026, 12, 1)) == "1 December 2026"
        assert t.long_date("2026-12-02") == "2 December 2026"


def test_dates_that_are_not_dates_pass_through(bare_app):
    with force_locale("fr"):
        assert t.long_date(None) == ""
        assert t.long_date("") == ""
        assert t.long_date("bientôt") == "bientôt"
        assert t.short_date(None) == ""


def test_short_date(bare_app):
    with force_locale("fr"):
        assert t.short_date(date(2026, 12, 1)) == "01/12/2026"
    with force_locale("en"):
        assert t.short_date("2026-12-01") == "1 Dec 2026"


def test_number_uses_narrow_no_break_space_in_french(bare_app):
    with force_locale("fr"):
        assert t.number(1234) == f"1{NNBSP}234"
        assert t.number(1234567.5) == f"1{NNBSP}234{NNBSP}567,5"
        assert t.number(12) == "12"
    with force_locale("en"):
        assert t.number(1234) == "1,234"


def test_percent_keeps_a_decimal_only_when_not_whole(bare_app):
    with force_locale("fr"):
        assert t.percent(11) == f"11{NBSP}%"
        assert t.percent(12.5) == f"12,5{NBSP}%"
        assert t.percent(12.0) == f"12{NBSP}%"
        assert t.percent(0) == f"0{NBSP}%"
        assert t.percent(24.01) == f"24,01{NBSP}%"  # just above a 24 % threshold: not rounded onto it
    with force_locale("en"):
        assert t.percent(11) == "11%"
        assert t.percent(12.5) == "12.5%"


def test_file_size_decimal_units_in_each_language(bare_app):
    with force_locale("fr"):
        assert t.file_size(850) == f"850{NBSP}octets"
        assert t.file_size(1) == f"1{NBSP}octet"
        assert t.file_size(1200) == f"1,2{NNBSP}ko"
        assert t.file_size(1_200_000) == f"1,2{NNBSP}Mo"
        assert t.file_size(999_960) == f"1{NNBSP}Mo"
        assert t.file_size(3_400_000_000) == f"3,4{NNBSP}Go"
    with force_locale("en"):
        assert t.file_size(850) == "850 bytes"
        assert t.file_size(1) == "1 byte"
        assert t.file_size(1200) == "1.2 kB"
        assert t.file_size(1_200_000) == "1.2 MB"
        assert t.file_size(2_000_000_000) == "2 GB"


def test_filters_are_registered_and_read_the_locale(bare_app):
    template = "{{ d|long_date }} · {{ s|file_size }} · {{ p|percent }} · {{ n|number }} · {{ d|short_date }}"
    with bare_app.test_request_context():
        with force_locale("fr"):
            fr = render_template_string(template, d=date(2026, 12, 1), s=1_200_000, p=11, n=1234)
        with force_locale("en"):
            en = render_template_string(template, d=date(2026, 12, 1), s=1_200_000, p=11, n=1234)
    assert fr == f"1er décembre 2026 · 1,2{NNBSP}Mo · 11{NBSP}% · 1{NNBSP}234 · 01/12/2026"
    assert en == "1 December 2026 · 1.2 MB · 11% · 1,234 · 1 Dec 2026"


def test_the_application_registers_the_filters(app):
    for name in ("long_date", "short_date", "file_size", "number", "percent", "french_spacing"):
        assert name in app.jinja_env.filters


# --- french_spacing ----------------------------------------------------------------------------------------------


def test_spaces_before_punctuation():
    assert t.french_spacing("<p>Statut : actif ; fin !</p>") == f"<p>Statut{NBSP}: actif{NNBSP}; fin{NNBSP}!</p>"
    assert t.french_spacing("<p>Vraiment?</p>") == f"<p>Vraiment{NNBSP}?</p>"
    assert t.french_spacing("<p>Note:</p>") == f"<p>Note{NBSP}:</p>"
    assert t.french_spacing("<td>11%</td><td>11 %</td>") == f"<td>11{NBSP}%</td><td>11{NBSP}%</td>"


def test_guillemets():
    assert t.french_spacing("<p>«Bonjour»</p>") == f"<p>«{NBSP}Bonjour{NBSP}»</p>"
    assert t.french_spacing("<p>« Bonjour »</p>") == f"<p>«{NBSP}Bonjour{NBSP}»</p>"


def test_existing_fixed_spaces_are_not_doubled():
    spaced = f"<p>Statut{NBSP}: «{NBSP}oui{NBSP}» ; non{NNBSP}!</p>"
    assert t.french_spacing(spaced) == f"<p>Statut{NBSP}: «{NBSP}oui{NBSP}»{NNBSP}; non{NNBSP}!</p>"
    assert t.french_spacing("<p>Statut&nbsp;: ok</p>") == "<p>Statut&nbsp;: ok</p>"
    twice = t.french_spacing("<p>Statut : actif !</p>")
    assert t.french_spacing(twice) == twice


def test_tags_comments_style_script_code_untouched():
    source = ('<!DOCTYPE html><html><head><style>a:hover{color:red;} p::before{content:"!"}</style>'
              '<script>if (a) { b(); }</script></head><body><!-- note : x ; y -->'
              '<a href="https://example.org/?a=1;b=2" title="Titre : x">Lien</a>'
              "<pre>a : b</pre><code>x ; y</code></body></html>")
    assert t.french_spacing(source) == source


def test_things_that_are_not_sentence_punctuation():
    source = "<p>À 10:30, voir https://example.org/a?b=1 ou a%20b ; std::vector</p>"
    assert t.french_spacing(source) == f"<p>À 10:30, voir https://example.org/a?b=1 ou a%20b{NNBSP}; std::vector</p>"
    assert t.french_spacing("<p>Quoi ?!</p>") == f"<p>Quoi{NNBSP}?!</p>"
    assert t.french_spacing("<p>: au début</p>") == "<p>: au début</p>"


def test_sentence_runs_through_inline_tags_not_blocks():
    assert t.french_spacing("<p><b>Statut</b> : actif</p>") == f"<p><b>Statut</b>{NBSP}: actif</p>"
    assert t.french_spacing("<p><b>Statut </b>: actif</p>") == f"<p><b>Statut</b>{NBSP}: actif</p>"
    assert t.french_spacing("<td>Statut</td><td>: actif</td>") == "<td>Statut</td><td>: actif</td>"


def test_text_stays_escaped():
    source = "<p>a &lt;b&gt; &amp; c : d</p>"
    assert t.french_spacing(source) == f"<p>a &lt;b&gt; &amp; c{NBSP}: d</p>"
    untouched = "<p>&eacute;t&eacute; &#39;x&#39;</p>"
    assert t.french_spacing(untouched) == untouched


def test_filter_form_escapes_first(bare_app):
    with bare_app.test_request_context():
        out = render_template_string("{{ s|french_spacing }}", s="<b>x</b> : y")
    assert out == f"&lt;b&gt;x&lt;/b&gt;{NBSP}: y"


# --- the chapter chart ---------------------------------------------------------------------------------------------


def test_chapter_chart_wraps_long_names_instead_of_cutting_them(bare_app):
    from xml.etree import ElementTree

    from evidence.core.rules import Readiness
    from evidence.presentation import charts

    long = "Critères supplémentaires pour la protection vis-à-vis du droit extra-européen"
    with force_locale("fr"):
        svg = charts.chapter_bars([("19", long, Readiness(3, 4)), ("5", "Organisation & <rôles>", Readiness(1, 1234))],
                                  "Exigences couvertes par chapitre")
    root = ElementTree.fromstring(svg)  # well-formed, every text escaped
    ns = "{http://www.w3.org/2000/svg}"
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    label = next(t for t in root.iter(f"{ns}text") if "Critères" in "".join(t.itertext()))
    lines = [span.text for span in label.iter(f"{ns}tspan")]
    assert 2 <= len(lines) <= 3 and all(len(line) <= charts.LABEL_CHARS for line in lines)
    assert " ".join(lines) == f"19. {long}"  # nothing cut
    assert "5. Organisation & <rôles>" in texts
    assert f"75{NBSP}% (3/4)" in texts
    assert f"0{NBSP}% (1/1{NNBSP}234)" in texts


def test_wrap_label_ellipsis_only_beyond_three_lines():
    from evidence.presentation.charts import wrap_label

    assert wrap_label("court") == ["court"]
    lines = wrap_label("mot " * 60, width=20, lines=3)
    assert len(lines) == 3 and lines[-1].endswith("…") and len(lines[-1]) <= 20
