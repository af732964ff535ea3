"""Posting the new-evidence form as a browser does, for the tests of its messages and its validation."""
from __future__ import annotations

import pytest

from evidence.data import database as db
from evidence.data.models import User
from evidence.services.perimeters import PerimeterData, create_perimeter

from .conftest import csrf_token


@pytest.fixture
def perimeter(catalogue_loaded, users) -> int:
    """A perimeter on the SecNumCloud referential (its id), for the form's `perimeters` field."""
    with catalogue_loaded.app_context(), db.session_scope(catalogue_loaded) as session:
        manager = session.get(User, users["manager"].id)
        return create_perimeter(session, manager, PerimeterData(code="iaas-fr1", name="IaaS", service_types=("IaaS",))).id


def new_evidence(client, perimeter, *, requirements: str = "", **fields):
    """POST /evidence/new with a valid report's fields, `fields` overriding them."""
    data = {"csrf_token": csrf_token(client, "/evidence/new"), "title": "Rapport EDR", "kind": "report", "owner": "",
            "classification": "internal", "requirements": requirements, "perimeters": [str(perimeter)], **fields}
    return client.post("/evidence/new", data=data, content_type="multipart/form-data")
