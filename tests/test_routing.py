"""URL builders compiled once per process (evidence.web.routing), and still building every URL as werkzeug's own."""
from werkzeug.routing import Map
from werkzeug.routing import Rule as WerkzeugRule

from tests.conftest import make_app


def example(converter) -> str:
    """A value the converter takes: one of an `any`'s choices, a number, else text that needs quoting."""
    if hasattr(converter, "items"):
        return sorted(converter.items)[0]
    return "x/y é" if converter.regex in ("[^/]+", "[^/].*?") else "7"


def test_a_second_app_reuses_the_builders_and_builds_every_url_as_werkzeug_does(tmp_path):
    first = make_app(tmp_path / "a", f"sqlite:///{tmp_path}/a.db")
    second = make_app(tmp_path / "b", f"sqlite:///{tmp_path}/b.db")
    builders = {(rule.endpoint, rule.rule): rule._build.__func__ for rule in first.url_map.iter_rules()}
    rules = list(second.url_map.iter_rules())
    shared = [rule for rule in rules if builders.get((rule.endpoint, rule.rule)) is rule._build.__func__]
    assert len(shared) == len(rules) - 1  # all but the static files' rule, made by Flask with its own class

    plain = Map([WerkzeugRule(r.rule, defaults=r.defaults, endpoint=r.endpoint, methods=r.methods) for r in rules])
    ours, theirs = second.url_map.bind("localhost"), plain.bind("localhost")
    for rule in rules:
        values = {name: example(rule._converters[name]) for name in rule.arguments if name not in (rule.defaults or {})}
        values["extra"] = "a b"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert ours.build(rule.endpoint, values, method) == theirs.build(rule.endpoint, values, method), rule
