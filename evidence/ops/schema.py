"""What a restored database may hold: exactly the schema the product's migrations create, nothing else.

A database holds code as well as data: a trigger, a view, a rule or a function slipped into a backup runs or
answers inside the restored instance (a trigger that makes a contributor admin at login leaves no audit event).
So a restore compares the backup's schema with a reference, what the migrations create on an empty database of
the same backend at the backup's own revision (an older backup is compared with that older schema; the
product's migrations, which are trusted, then bring it up to date). Compared: tables; columns (name, type, its
affinity on SQLite, nullability, default); primary keys, foreign keys, unique and check constraints; indexes;
and every trigger, view, rule, policy, function, sequence, type, schema, extension or event trigger, each of
which must be in the reference too.

SQLite: the backup's file is checked standalone and read-only, before it is renamed into place.
PostgreSQL: the dump's table of contents before pg_restore (only the kinds of object the migrations create),
then the restored database (on any difference, everything restored is dropped: the database was empty before).
The PostgreSQL reference is migrated in a temporary schema, in a transaction that is rolled back.
"""
from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from evidence.core.errors import N_, Message
from evidence.data import database as db

# The kinds of object, in the reader's words (a parameter of the messages below).
KINDS = {
    "trigger": N_("déclencheur"), "view": N_("vue"), "materialized view": N_("vue matérialisée"),
    "function": N_("fonction"), "rule": N_("règle"), "policy": N_("politique de sécurité"),
    "sequence": N_("séquence"), "type": N_("type"), "schema": N_("schéma"), "extension": N_("extension"),
    "event trigger": N_("déclencheur d’événement"), "foreign table": N_("table étrangère"),
    "composite type": N_("type composite"),
}
CONSTRAINTS = {"pk": N_("clé primaire"), "fks": N_("clés étrangères"), "uniques": N_("contraintes d’unicité"),
               "checks": N_("contraintes de vérification")}
# What pg_dump writes for the schema the migrations create (`pg_restore --list`); anything else is refused
# before pg_restore runs. Longest first: a kind is matched as a prefix of the entry.
DUMP_KINDS = ("SEQUENCE OWNED BY", "FK CONSTRAINT", "SEQUENCE SET", "TABLE DATA", "CONSTRAINT", "SEQUENCE",
              "DEFAULT", "INDEX", "TABLE")
_TOC_ENTRY = re.compile(r"^\d+; \d+ \d+ (.*)$")
# An extension's own objects (pgcrypto's functions in public, say) are the database's, not the backup's.
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = %s AND d.deptype = 'e')"
_OUTSIDE = ("schema", "extension", "event trigger")  # database-wide: not in a schema


def _affinity(declared: str) -> str:
    """SQLite's type affinity (its rules, in their order): what SQLite actually stores."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _spaces(sql) -> str:
    return " ".join(str(sql).split()) if sql is not None else ""


_CAST = re.compile(r"::(?:\"[^\"]+\"|[a-z_]+(?: [a-z_]+)*)(?:\[\])?")


def _check(sql) -> str:
    """A check constraint's condition without its casts, parentheses and spaces: PostgreSQL words the same
    condition differently once it went through pg_dump and pg_restore (`'a'::character varying::text` for
    `'a'::character varying` and a cast of the array), so only what it tests is compared."""
    return re.sub(r"[\s()]", "", _CAST.sub("", str(sql)))


def _objects(connection: Connection) -> set[tuple]:
    """(kind, name, table or "") of every object a table description does not cover."""
    if connection.dialect.name == "sqlite":
        return {(kind, name, table) for kind, name, table in connection.execute(text(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('trigger', 'view')"))}
    found = set()
    queries = {
        "trigger": "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                   "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())",
        "function": "SELECT p.oid::regprocedure::text, '' FROM pg_proc p "
                    "WHERE p.pronamespace = to_regnamespace(current_schema()) AND " + _NOT_EXTENSION % "p.oid",
        "rule": "SELECT rulename, tablename FROM pg_rules WHERE schemaname = current_schema()",
        "policy": "SELECT policyname, tablename FROM pg_policies WHERE schemaname = current_schema()",
        "type": "SELECT t.typname, '' FROM pg_type t WHERE t.typnamespace = to_regnamespace(current_schema()) "
                "AND t.typtype IN ('e', 'd', 'r', 'm') AND " + _NOT_EXTENSION % "t.oid",
        "schema": "SELECT nspname, '' FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                  "AND nspname NOT IN ('information_schema', current_schema())",
        "extension": "SELECT extname, '' FROM pg_extension",
        "event trigger": "SELECT evtname, '' FROM pg_event_trigger",
    }
    for kind, sql in queries.items():
        found |= {(kind, name, table) for name, table in connection.execute(text(sql))}
    relkinds = {"v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table", "c": "composite type"}
    for relkind, name in connection.execute(text(
            "SELECT relkind::text, relname FROM pg_class c WHERE relnamespace = to_regnamespace(current_schema()) "
            "AND relkind IN ('v', 'm', 'S', 'f', 'c') AND " + _NOT_EXTENSION % "c.oid")):
        found.add((relkinds[relkind], name, ""))
    return found


def describe(connection: Connection) -> dict:
    """The schema of the connection's database (PostgreSQL: its current schema), in comparable terms."""
    sqlite = connection.dialect.name == "sqlite"
    inspector = inspect(connection)
    views = set(inspector.get_view_names())
    tables = {}
    for name in inspector.get_table_names():
        if name in views:
            continue
        columns = {c["name"]: (_affinity(str(c["type"])) if sqlite else str(c["type"]), bool(c["nullable"]),
                               _spaces(c.get("default"))) for c in inspector.get_columns(name)}
        fks = sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                      tuple(sorted((f.get("options") or {}).items()))) for f in inspector.get_foreign_keys(name))
        tables[name] = {
            "columns": columns,
            "pk": tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ()),
            "fks": fks,
            "uniques": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)),
            "checks": sorted(_check(c["sqltext"]) for c in inspector.get_check_constraints(name)),
            "indexes": {i["name"]: (bool(i["unique"]), tuple(str(c) for c in i["column_names"]),
                                    tuple(_spaces(e) for e in i.get("expressions") or ()),
                                    tuple(sorted((k, _spaces(v)) for k, v in (i.get("dialect_options") or {}).items())))
                        for i in inspector.get_indexes(name)},
        }
    return {"tables": tables, "objects": _objects(connection)}


def _migrated(connection: Connection, revision: Optional[str]) -> None:
    from alembic import command

    if revision is not None:
        command.upgrade(db.alembic_config(connection), revision)


@functools.lru_cache(maxsize=8)
def _sqlite_reference(revision: Optional[str]) -> dict:
    engine = create_engine("sqlite://", poolclass=StaticPool)  # in memory: nothing on disk, nothing left behind
    try:
        with engine.begin() as connection:
            _migrated(connection, revision)
            return describe(connection)
    finally:
        engine.dispose()


def postgresql_reference(engine: Engine, revision: Optional[str]) -> dict:
    """What the migrations create at `revision`, built in a temporary schema of the engine's database, in a
    transaction that is rolled back (PostgreSQL's DDL is transactional): nothing of it remains. Read before
    pg_restore, it also records what the database holds already (`present`: its schemas, extensions, event
    triggers, any function of its own), which is the database's, not the backup's."""
    name = f"evidence_reference_{uuid.uuid4().hex[:12]}"
    with engine.connect() as connection:
        present = _objects(connection)
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{name}"'))
        try:
            _migrated(connection, revision)
            reference = describe(connection)
        finally:
            connection.rollback()
    reference["objects"] = {entry for entry in reference["objects"] if entry[0] not in _OUTSIDE}
    reference["present"] = present
    return reference


def _object(kind: str, name: str, table: str) -> Message:
    if table:
        return Message(N_("%(kind)s « %(name)s » sur la table « %(table)s »"), kind=Message(KINDS.get(kind, kind)),
                       name=name, table=table)
    return Message(N_("%(kind)s « %(name)s »"), kind=Message(KINDS.get(kind, kind)), name=name)


def differences(expected: dict, actual: dict) -> list[Message]:
    """What `actual` has that the migrations do not create, or lacks, or has otherwise; each names the object."""
    problems = []
    for kind, name, table in sorted(actual["objects"] - expected["objects"] - expected.get("present", set())):
        problems.append(Message(N_("%(what)s : d’origine inconnue (les migrations n’en créent pas)"),
                                what=_object(kind, name, table)))
    for kind, name, table in sorted(expected["objects"] - actual["objects"]):
        problems.append(Message(N_("%(what)s : manque"), what=_object(kind, name, table)))
    mine, theirs = expected["tables"], actual["tables"]
    problems += [Message(N_("table « %(table)s » : d’origine inconnue (les migrations ne la créent pas)"), table=t)
                 for t in sorted(set(theirs) - set(mine))]
    problems += [Message(N_("table « %(table)s » : manque"), table=t) for t in sorted(set(mine) - set(theirs))]
    for table in sorted(set(mine) & set(theirs)):
        want, have = mine[table], theirs[table]
        for column in sorted(set(want["columns"]) | set(have["columns"])):
            if column not in want["columns"]:
                problems.append(Message(N_("colonne « %(column)s » de la table « %(table)s » : d’origine inconnue"),
                                        column=column, table=table))
            elif column not in have["columns"]:
                problems.append(Message(N_("colonne « %(column)s » de la table « %(table)s » : manque"),
                                        column=column, table=table))
            elif want["columns"][column] != have["columns"][column]:
                problems.append(Message(N_("colonne « %(column)s » de la table « %(table)s » : %(found)s au lieu de "
                                           "%(expected)s (type, NULL permis, valeur par défaut)"), column=column,
                                        table=table, found=repr(have["columns"][column]),
                                        expected=repr(want["columns"][column])))
        for key, words in CONSTRAINTS.items():
            if want[key] != have[key]:
                problems.append(Message(N_("%(what)s de la table « %(table)s » : différentes de ce que créent les "
                                           "migrations"), what=Message(words), table=table))
        for index in sorted(set(want["indexes"]) | set(have["indexes"]), key=str):
            if want["indexes"].get(index) != have["indexes"].get(index):
                problems.append(Message(N_("index « %(index)s » sur la table « %(table)s » : %(how)s"), index=index,
                                        table=table, how=Message(
                                            N_("d’origine inconnue") if index not in want["indexes"] else
                                            N_("manque") if index not in have["indexes"] else N_("différent"))))
    return problems


def sqlite_file_differences(path: Path, revision: Optional[str]) -> list[Message]:
    """The SQLite file at `path` (opened read-only, never modified) against the migrations at `revision`."""
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro&immutable=1"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=StaticPool)
    try:
        with engine.connect() as connection:
            actual = describe(connection)
    finally:
        engine.dispose()
    return differences(_sqlite_reference(revision), actual)


def postgresql_differences(engine: Engine, reference: dict) -> list[Message]:
    with engine.connect() as connection:
        return differences(reference, describe(connection))


def dump_problems(toc: str) -> list[Message]:
    """The entries of a dump's table of contents (`pg_restore --list`) of a kind the migrations never create:
    refused before pg_restore runs anything."""
    problems = []
    for line in toc.splitlines():
        entry = _TOC_ENTRY.match(line.strip())
        if entry is None:
            continue  # comments (";") and blank lines
        if not any(entry[1].startswith(kind + " ") for kind in DUMP_KINDS):
            problems.append(Message(N_("la sauvegarde contient « %(entry)s » : une sorte d’objet que les migrations "
                                       "ne créent pas"), entry=entry[1].rsplit(" ", 1)[0]))
    return problems


def drop_restored(engine: Engine, reference: dict) -> None:
    """Drop everything a refused pg_restore left: every table, view, sequence and type of the current schema
    (the restore went into an empty one, whose product tables, if any, load_postgresql dropped first), and any
    function, schema, extension or event trigger the database did not hold before (see postgresql_reference)."""
    with engine.begin() as connection:
        for kind, name, _table in sorted(_objects(connection) - reference["present"]):
            if kind in _OUTSIDE:
                connection.execute(text(f'DROP {kind.upper()} IF EXISTS "{name}" CASCADE'))
        for (name,) in connection.execute(text(
                "SELECT relname FROM pg_class c WHERE relnamespace = to_regnamespace(current_schema()) "
                "AND relkind IN ('r', 'p', 'f') AND " + _NOT_EXTENSION % "c.oid")).all():
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        for kind, name, table in sorted(_objects(connection)):
            if kind == "function" and (kind, name, table) in reference["present"]:
                continue  # the database's own, there before the restore
            statement = {"view": "VIEW", "materialized view": "MATERIALIZED VIEW", "sequence": "SEQUENCE",
                         "composite type": "TYPE", "type": "TYPE"}.get(kind)
            if statement:
                connection.execute(text(f'DROP {statement} IF EXISTS "{name}" CASCADE'))
            elif kind == "function":
                connection.execute(text(f"DROP ROUTINE IF EXISTS {name} CASCADE"))  # a regprocedure: quoted
