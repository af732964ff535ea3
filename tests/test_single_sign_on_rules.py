"""Single sign-on's pure rules (evidence/core/rules/single_sign_on.py) and its settings' types, by tables of
cases; the flow against a local provider is tests/test_single_sign_on.py."""
from __future__ import annotations

import pytest

from evidence.core.rules import single_sign_on as rules
from evidence.settings import BY_NAME, SettingError


def test_settings_parse_and_check_their_types():
    role_map = BY_NAME["OIDC_ROLE_MAP"]
    assert role_map.parse("grc-admins=admin, /grc/managers=manager;x=y=auditor") == (
        ("grc-admins", "admin"), ("/grc/managers", "manager"), ("x=y", "auditor"))
    assert role_map.parse("") == ()
    assert role_map.type.check({"a": "admin", "b": "auditor"}) == (("a", "admin"), ("b", "auditor"))
    for bad in ("grc-admins", "a=admin,a=manager", "=admin", "a=superuser"):
        with pytest.raises(SettingError):
            role_map.parse(bad)
    assert BY_NAME["OIDC_SCOPES"].parse("openid, email groups") == ("openid", "email", "groups")
    assert BY_NAME["OIDC_MFA_AMR"].default == ("mfa", "otp", "hwk", "swk")
    assert BY_NAME["OIDC_CREATE_USERS"].default is False and BY_NAME["OIDC_PASSWORD_LOGIN"].default is False
    assert BY_NAME["OIDC_CLIENT_SECRET"].secret
    with pytest.raises(SettingError) as refused:
        BY_NAME["OIDC_CLIENT_SECRET"].check(42, "OIDC_CLIENT_SECRET")
    assert "42" not in str(refused.value)


# --- the pure rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("claims", "expected"), [
    ({"email": "Alice@Example.org", "email_verified": True}, "alice@example.org"),
    ({"email": "alice@example.org", "email_verified": "true"}, "alice@example.org"),
    ({"email": "alice@example.org", "email_verified": False}, None),
    ({"email": "alice@example.org"}, None),
    ({"email_verified": True}, None),
    ({"email": ["alice@example.org"], "email_verified": True}, None),
])
def test_only_a_verified_email_is_trusted(claims, expected):
    assert rules.verified_email(claims) == expected


MAP = (("grc-admins", "admin"), ("grc-managers", "manager"))


@pytest.mark.parametrize(("groups", "expected"), [
    (["grc-managers"], "manager"),
    (["grc-managers", "grc-admins"], "admin"),  # the map's order decides, not the token's
    ("grc-admins", "admin"),  # one group as a string
    (["/grc-admins"], None),  # names are compared as the token carries them
    ([], None), (None, None), ([1, {"x": 1}], None),
])
def test_the_first_mapped_group_gives_the_role(groups, expected):
    assert rules.mapped_role(groups, MAP) == expected


@pytest.mark.parametrize(("claims", "expected"), [
    ({"amr": ["pwd", "mfa"]}, True), ({"amr": ["hwk"]}, True), ({"amr": "otp"}, True),
    ({"amr": ["pwd"]}, False), ({}, False), ({"acr": "gold"}, True), ({"acr": "bronze"}, False),
    ({"acr": ["gold"]}, False),
])
def test_the_provider_says_whether_its_login_was_multi_factor(claims, expected):
    assert rules.provider_second_factor(claims, ("mfa", "otp", "hwk", "swk"), ("gold",)) is expected


def test_the_created_account_takes_the_provider_s_name():
    assert rules.display_name({"name": " Alice Martin "}) == "Alice Martin"
    assert rules.display_name({"given_name": "Alice", "family_name": "Martin"}) == "Alice Martin"
    assert rules.display_name({"preferred_username": "amartin"}) == "amartin"
    assert rules.display_name({}) == ""
