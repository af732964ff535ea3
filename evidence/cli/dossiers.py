"""`evidence dossier …`: render a version, list them, approve one (four eyes), compare two, sign, render again.

`evidence dossier PERIMETER -o FILE.pdf` (no subcommand) still renders, as it always did: a first argument that
names no subcommand goes to `render`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlmodel import select

from evidence import context
from evidence.cli.common import cli_actor, evidence_command, today
from evidence.core.errors import N_, EvidenceError
from evidence.services.perimeters import get_perimeter


class DossierGroup(click.Group):
    """A group whose unknown first word is the perimeter of `render` (the command's shape before it had
    subcommands)."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["render", *args]
        return super().parse_args(ctx, args)


@click.group(name="dossier", cls=DossierGroup)
def dossier():
    """Qualification dossiers: `evidence dossier PERIMETER -o FILE.pdf` renders a new version (a draft until two
    people approve it); see the subcommands for the rest."""


def _progress_bar():
    bar = click.progressbar(length=100, label="Rendering", show_percent=True, file=sys.stderr)
    done = [0]

    def progress(percent, _step):
        bar.update(percent - done[0])
        done[0] = percent

    return bar, progress


def _version(session, perimeter, number: int):
    from evidence.dossier import history
    from evidence.dossier.generate import NO_VERSION

    item = history.version(session, perimeter, number)
    if item is None:
        raise EvidenceError(NO_VERSION, perimeter=perimeter.code, number=number)
    return item


def _read(key: str) -> bytes:
    with context.get_store().open(key) as source:
        return source.read()


@evidence_command(dossier, name="render")
@click.argument("perimeter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.pdf")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--attach-evidence", is_flag=True, help="Embed the pinned evidence files (PDF/A-3u).")
@click.option("--marking", default="", help="Marking on every page (default: the DOSSIER_MARKING setting, empty: none).")
def render(perimeter, output, lang, attach_evidence, marking):
    """Render PERIMETER's qualification dossier (a new version, a draft until approved, stored and audited) and
    write it to FILE.pdf."""
    from evidence.data.files import atomic_write
    from evidence.dossier.generate import generate

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        bar, progress = _progress_bar()
        with bar:
            item = generate(session, context.get_store(), cli_actor(), target, lang, attach_evidence, marking,
                            today(), progress, settings=context.dossier_settings(),
                            default_marking=context.dossier_marking())
        data = _read(item.storage_key)
    atomic_write(output, lambda f: f.write(data))
    click.echo(f"Wrote {output}: dossier {target.code} v{item.number} ({item.status}), {item.size} bytes, "
               f"SHA-256 {item.sha256}")


@evidence_command(dossier, name="list")
@click.argument("perimeter")
def list_versions(perimeter):
    """List PERIMETER's dossier versions: state, approvals, SHA-256 of the PDF one hands over."""
    from evidence.data.models import Dossier
    from evidence.dossier import history

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        versions = list(session.exec(select(Dossier).where(Dossier.perimeter_id == target.id).order_by(Dossier.number)))
        given = history.approvals(session, [d.id for d in versions])
        names = history.authors(session, target, versions)
    if not versions:
        click.echo(f"{target.code} has no dossier version yet")
        return
    rows = [("VERSION", "CREATED (UTC)", "LANG", "STATUS", "AUTHOR", "APPROVALS", "SHA-256")]
    for d in versions:
        status = d.status + (", signed" if d.signed_storage_key else "")
        approvals = "; ".join(f"{a['name']} ({a['function']})" for a in given[d.id]) or "-"
        digest = d.signed_sha256 or d.sha256 or "-"
        rows.append((f"v{d.number}", d.created_at.strftime("%Y-%m-%d %H:%M"), d.language, status, names[d.id] or "-",
                     approvals, digest))
    _table(rows)


def _table(rows) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _function(functions: tuple[str, ...], given: str) -> str:
    """The configured function the user means: its full wording, or a part of it that names only it
    (e.g. "RSSI")."""
    wanted = " ".join(given.split())
    if wanted in functions:
        return wanted
    matches = [f for f in functions if wanted.casefold() in f.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not functions:
        raise EvidenceError(N_("--function « %(given)s » : aucune fonction d’approbation n’est configurée "
                               "(renseignez DOSSIER_APPROVER_FUNCTIONS)"), given=given)
    if matches:
        raise EvidenceError(N_("--function « %(given)s » désigne plusieurs des fonctions d’approbation : "
                               "%(functions)s"), given=given, functions="; ".join(functions))
    raise EvidenceError(N_("--function « %(given)s » ne désigne aucune des fonctions d’approbation : %(functions)s"),
                        given=given, functions="; ".join(functions))


def _approver(session, email: str):
    from evidence.data.models import User

    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise EvidenceError(N_("--as %(email)s : aucun utilisateur de ce nom"), email=email)
    if not user.active:
        raise EvidenceError(N_("--as %(email)s : ce compte est désactivé"), email=email)
    return user


def _render_final(session, item, target) -> None:
    from evidence.dossier.generate import render_stored

    bar, progress = _progress_bar()
    with bar:
        render_stored(session, context.get_store(), item, progress, settings=context.dossier_settings())
    click.echo(f"Rendered {target.code} v{item.number} ({item.status}): {item.size} bytes, SHA-256 {item.sha256}")
    if item.signed_storage_key:
        click.echo(f"Signed by {item.signer}: SHA-256 {item.signed_sha256}")


@evidence_command(dossier, name="approve")
@click.argument("perimeter")
@click.argument("version", type=int)
@click.option("--as", "as_email", metavar="EMAIL", required=True, help="The user who approves (a manager; an admin too with ADMIN_APPROVES).")
@click.option("--function", "function", required=True,
              help="The function they approve in: one of DOSSIER_APPROVER_FUNCTIONS, or a part naming only it (e.g. RSSI).")
def approve(perimeter, version, as_email, function):
    """Record EMAIL's approval of PERIMETER's dossier VERSION; the second approval (another person, another
    function) freezes it and renders the approved version at once."""
    from evidence.services import dossier_signoff

    functions = context.approver_functions()
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        item = _version(session, target, version)
        user = _approver(session, as_email)
        dossier_signoff.approve(session, user, item, _function(functions, function), functions=functions,
                                origin=cli_actor(), admin_approves=context.admin_approves())
        if item.approved_at is None:
            click.echo(f"Approval of {target.code} v{item.number} by {user.name} recorded; a second person must approve "
                       f"it in another function")
            return
        click.echo(f"{target.code} v{item.number} approved by two people: frozen; rendering the approved version")
        _render_final(session, item, target)


@evidence_command(dossier, name="render-again")
@click.argument("perimeter")
@click.argument("version", type=int)
def render_again(perimeter, version):
    """Render PERIMETER's failed dossier VERSION again (an approved one as the approved version, its approvals
    kept)."""
    from evidence.dossier.generate import render_again as requeue

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        item = requeue(session, cli_actor(), _version(session, target, version))
        _render_final(session, item, target)


@evidence_command(dossier, name="sign")
@click.argument("perimeter")
@click.argument("version", type=int)
def sign(perimeter, version):
    """Sign PERIMETER's approved dossier VERSION (PAdES) with the organisation's certificate
    (DOSSIER_SIGNING_PKCS12), when it was not signed when it was approved."""
    from evidence.dossier.generate import sign_stored

    signing = context.dossier_settings().signing
    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        item = _version(session, target, version)
        if signing is None:
            raise EvidenceError(N_("%(name)s : aucun certificat de signature n’est configuré (renseignez "
                                   "DOSSIER_SIGNING_PKCS12 et DOSSIER_SIGNING_PASSPHRASE_FILE)"),
                                name=f"{target.code}-v{item.number}")
        sign_stored(session, context.get_store(), item, signing)
        click.echo(f"Signed {target.code} v{item.number} as {item.signer}: SHA-256 {item.signed_sha256}")


def _campaign_text(campaign) -> str:
    return f"{campaign['kind']} {campaign['centre']} {campaign['starts_on']}..{campaign['ends_on']}" if campaign else "-"


@evidence_command(dossier, name="diff")
@click.argument("perimeter")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def diff(perimeter, a, b, as_json):
    """What changed in PERIMETER's dossier from version A to version B (coverage, evidence, findings,
    registers), computed from the two frozen snapshots."""
    from evidence.dossier.diff import CHANGE_KINDS, changes

    with context.session_scope() as session:
        target = get_perimeter(session, perimeter)
        old, new = _version(session, target, a), _version(session, target, b)
        found = changes(old.snapshot, new.snapshot)
    if as_json:
        click.echo(json.dumps({"perimeter": target.code, "from": a, "to": b, "changes": found},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"{target.code}: dossier v{a} -> v{b}")
    if not any(found[kind] for kind in CHANGE_KINDS):
        click.echo("no change")
        return
    rows = [("CHANGE", "REF", "FROM", "TO")]
    rows += [("coverage", c["ref"], c["from"] or "-", c["to"] or "-") for c in found["coverage"]]
    rows += [("evidence added", ref, "", "") for ref in found["evidence_added"]]
    rows += [("evidence replaced", r["ref"], f"v{r['from']}", f"v{r['to']}") for r in found["evidence_replaced"]]
    rows += [("evidence expired", ref, "", "") for ref in found["evidence_expired"]]
    rows += [("evidence removed", ref, "", "") for ref in found["evidence_removed"]]
    rows += [("finding opened", f"#{f['id']}", f.get("requirement") or "", "") for f in found["findings_opened"]]
    rows += [("finding closed", f"#{f['id']}", f.get("requirement") or "", "") for f in found["findings_closed"]]
    rows += [("register changed", name, "", "") for name in found["registers"]]
    rows += [("campaign", "", _campaign_text(c["from"]), _campaign_text(c["to"])) for c in found.get("campaign", [])]
    _table(rows)
