"""`ess versions` and `ess rollback`: the publication history of a warehouse, and going back to a kept version.

The history is the one the current version holds (transforms/warehouse.py: every version made current, by a
publication, a report or a rollback), joined with the version folders still there. What is printed is French: these
are the researcher's commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ess.errors import UserError
from transforms import warehouse as wh

ROLLBACK_WAIT_SECONDS = 60.0  # a publication holds the warehouse lock for seconds: wait for it rather than refuse
TYPES = {"publication": "publication", "rapport": "rapport", None: "—"}
VANISHED = "supprimée pendant la lecture"  # listed, then deleted by a writer's retention before its index was read


@dataclass
class Version:
    """One version as `ess versions` shows it: what made it (its first event, or its index) and what happened to
    it since (made current again, withdrawn)."""

    id: str
    made: dict
    state: str = "supprimée"
    events: list[str] = field(default_factory=list)
    newer: int | None = None  # versions published after it (None: not in the history)

    def kept_until(self) -> str:
        """Until when the retention keeps it, if it is kept and not current."""
        if self.newer is None or self.state != "conservée":
            return ""
        left = wh.KEEP_NEWER - self.newer
        if left <= 0:  # kept only as the version current before the current one
            return "jusqu'au prochain changement de version courante"
        return f"jusqu'à ce que {left} nouvelle{'s' if left > 1 else ''} version{'s' if left > 1 else ''} " \
               f"{'soient publiées' if left > 1 else 'soit publiée'}"


def date_fr(value: str | None) -> str:
    """« 29/11/2026 23:11:51 » from an ISO date-time (UTC in the indexes)."""
    text = str(value or "")
    if len(text) < 19 or text[4] != "-":
        return text or "—"
    return f"{text[8:10]}/{text[5:7]}/{text[:4]} {text[11:19]}"


def describe(made: dict) -> str:
    """What made a version, in one French line."""
    kind = made.get("type")
    what = {"publication": "publication" + (" FORCÉE" if made.get("forcee") else ""),
            "rapport": "rapport refait (ess report)"}.get(kind, "version")
    if not made.get("run_id"):
        return f"{what} du {date_fr(made.get('courante_depuis'))}"
    synthetic = ", données synthétiques" if made.get("donnees_synthetiques") else ""
    return (f"{what} du {date_fr(made.get('courante_depuis'))} — run {made.get('run_id')}, département "
            f"{made.get('departement')}, millésime {made.get('millesime')}, périmètre {made.get('perimetre')}"
            f"{synthetic}")


def check_warehouse(warehouse: Path) -> Path:
    warehouse = Path(warehouse)
    if not warehouse.is_dir():
        raise UserError(f"l'entrepôt {warehouse} n'existe pas : donnez --warehouse (le dossier où `ess run --out` "
                        "publie ; data/warehouse par défaut)")
    return warehouse


def versions(warehouse: Path) -> list[Version]:
    """Every version the warehouse knows of, the latest made first: those of the current version's history
    (deleted ones included) and those whose folder is there. It reads without the warehouse lock (a listing must
    not wait for a publication): a version deleted while it is read is listed as VANISHED, never an error."""
    warehouse = Path(warehouse)
    current = wh.current_dir(warehouse)
    events = wh.history(current)
    kept = wh.kept(warehouse) if current is not None else set(wh.available(warehouse))
    found: dict[str, Version] = {}
    for e in events:
        if e.get("type") != wh.ROLLBACK:
            found.setdefault(e["version"], Version(e["version"], e))
    for n, version in enumerate(reversed(found.values())):
        version.newer = n
    vanished = set()
    for name in wh.available(warehouse):  # versions the history does not name (no current version, or by hand)
        if name not in found:
            index = wh.read_index(warehouse / wh.VERSIONS / name)
            if not index:  # deleted since it was listed: a publication's retention (this reads without the lock)
                vanished.add(name)
            found[name] = Version(name, wh.event_of(index) if index else {})
    for e in events:
        if e.get("type") != wh.ROLLBACK:
            continue
        when = date_fr(e.get("courante_depuis"))
        if e["version"] in found:
            found[e["version"]].events.append(f"redevenue courante le {when} (retour arrière)")
        for name in e.get("versions_retirees") or []:
            if name in found:
                found[name].events.append(f"retirée le {when} (retour à {short(e['version'])})")
    present = set(wh.available(warehouse))
    for name, version in found.items():
        if name in vanished:
            version.state = VANISHED
        elif current is not None and name == current.name:
            version.state = "courante"
        elif name in kept:
            version.state = "conservée"
        elif name in present:  # being published now, or left by a crash or by hand: the next writer deletes it
            version.state = "à supprimer"
    return sorted(found.values(), key=lambda v: v.id, reverse=True)


def short(version_id: str) -> str:
    """The random end of an id, which `ess rollback` accepts (« 39dadc »)."""
    return version_id.rpartition("-")[2] or version_id


def rollbacks(warehouse: Path) -> list[str]:
    """The rollbacks of the current version's history, the latest first, one French line each."""
    lines = []
    for e in reversed(wh.history(wh.current_dir(Path(warehouse)))):
        if e.get("type") == wh.ROLLBACK:
            withdrawn = ", ".join(e.get("versions_retirees") or []) or "aucune"
            lines.append(f"  {date_fr(e.get('courante_depuis'))} : retour à la version {e['version']} ; "
                         f"retirée{'s' if len(e.get('versions_retirees') or []) > 1 else ''} : {withdrawn}")
    return lines


COLUMNS = ("", "version", "créée le (UTC)", "type", "run", "dép.", "millésime", "périmètre", "forcée", "état")


def table(rows: list[Version]) -> list[str]:
    """The versions as an aligned table, each with its events on the following lines."""
    cells = [COLUMNS] + [
        ("▶" if v.state == "courante" else "", v.id, date_fr(v.made.get("courante_depuis")),
         TYPES.get(v.made.get("type"), str(v.made.get("type"))), v.made.get("run_id") or "—",
         v.made.get("departement") or "—", v.made.get("millesime") or "—", v.made.get("perimetre") or "—",
         ("oui" if v.made.get("forcee") else "non") if v.made.get("type") == "publication" else "—", v.state)
        for v in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if n:
            version = rows[n - 1]
            notes = [*version.events, *(["données synthétiques (échantillon généré)"]
                                        if version.made.get("donnees_synthetiques") else []),
                     *([f"conservée {version.kept_until()}"] if version.kept_until() else [])]
            lines += [f"  {'':{widths[0]}}  └ {text}" for text in notes]
    return lines


def render_versions(warehouse: Path) -> str:
    """What `ess versions` prints."""
    warehouse = check_warehouse(warehouse)
    rows = versions(warehouse)
    if not rows:
        if wh.legacy_entries(warehouse):
            return (f"L'entrepôt {warehouse} est dans l'ancienne disposition, sans versions : la prochaine "
                    "publication (`ess run`) en fera la première version.")
        return f"L'entrepôt {warehouse} n'a encore aucune version : `ess run` y publie la première."
    kept = sum(v.state in ("courante", "conservée") for v in rows)
    lines = [f"Versions de l'entrepôt {warehouse} — {kept} conservée{'s' if kept > 1 else ''} sur {len(rows)} "
             "connue" + ("s" if len(rows) > 1 else "") + ", la plus récente en premier (▶ la version courante) :",
             ""]
    lines += table(rows)
    back = rollbacks(warehouse)
    if back:
        lines += ["", "Retours arrière :"] + back
    if wh.current_dir(warehouse) is None:
        lines += ["", f"Aucune version n'est courante ({warehouse / wh.CURRENT} manque) : `ess rollback <version>` "
                      "en rend une courante."]
    lines += ["", f"Sont conservées la version courante, celle qui l'était juste avant elle, et toute version tant "
                  f"que {wh.KEEP_NEWER} versions plus récentes n'ont pas été publiées. Pour revenir à une version "
                  "conservée : ess rollback <version> (ses 6 derniers caractères suffisent)."]
    return "\n".join(lines)


def render_rollback(warehouse: Path, wanted: str) -> str:
    """`ess rollback`: make the kept version `wanted` current again; what was done, in French."""
    warehouse = check_warehouse(warehouse)
    event = wh.rollback(warehouse, wanted, wait_seconds=ROLLBACK_WAIT_SECONDS)
    current = wh.current_dir(warehouse)
    known = {v.id: v for v in versions(warehouse)}
    if event is None:
        return f"La version {current.name} est déjà la version courante de {warehouse} : rien n'a changé."
    restored = known[event["version"]]
    lines = [f"Retour arrière dans l'entrepôt {warehouse} : la version {restored.id} est de nouveau la version "
             "courante.",
             f"  Elle contient : {describe(restored.made)}."]
    for name in event["versions_retirees"]:
        gone = known.get(name)
        what = describe(gone.made) if gone else "version inconnue"
        lines.append(f"  Retirée : {name} — {what}.")
        if gone and gone.state == "conservée":
            until = gone.kept_until()
            lines.append(f"    Elle reste dans {warehouse / wh.VERSIONS / name}{' ' + until if until else ''} ; "
                         f"`ess rollback {short(name)}` la rétablit.")
        else:
            lines.append(f"    Elle n'est plus conservée ({wh.KEEP_NEWER} versions plus récentes ont été publiées) : "
                         "l'historique seul en garde la trace.")
    lines.append("  L'historique de l'entrepôt garde la trace de ce retour arrière (`ess versions`).")
    return "\n".join(lines)
