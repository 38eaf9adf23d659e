"""One settings object (ess/settings.py): declared once, validated once with one rule per field, carried unchanged by
the command line, the flows and the deployments; every step setting reachable by a user."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from ess import paths
from ess.errors import UserError
from ess.settings import STEP_SETTINGS, Settings, user_fields
from test_flows import inputs, prefect_harness, run, stubs  # noqa: F401 — fixtures and the stand-in run


def parse(*argv: str):
    from flows.cli import build_parser

    return build_parser().parse_args(list(argv))


def own_reference(folder: Path, name: str = "insee_bis") -> Path:
    """A user's reference folder holding one more perimeter: a copy of the default one under another name."""
    folder.mkdir(parents=True, exist_ok=True)
    with paths.reference_file("perimetres.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, header = list(reader), reader.fieldnames
    extra = dict(rows[0], perimetre=name)
    for flag in ("par_defaut", "calage_urssaf"):  # one default perimeter, one definition of URSSAF's ESS
        if flag in extra:
            extra[flag] = "false"
    with (folder / "perimetres.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows([*rows, extra])
    return folder


# --- declared once ---------------------------------------------------------------------------------------------


def test_every_user_setting_is_an_option_of_ess_run_and_nothing_else_is():
    from flows.cli import build_parser

    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    dests = {a.dest for a in run_parser._actions if a.dest != "help"}
    assert dests == {f.name for f in user_fields()}
    # every field a step reads is a user setting, but the ones decided by the run itself
    assert set(STEP_SETTINGS) - dests == {"departement", "synthetic"}
    for name in ("reference_dir", "perimetres_cube", "secret_passe_detail"):
        assert name in dests


def test_the_command_line_gives_settings_whole(tmp_path):
    ref = own_reference(tmp_path / "ref")
    settings = Settings.from_args(parse("run", "-d", "38,73", "2a", "--reference-dir", str(ref), "--perimetre",
                                        "insee_bis", "--perimetres-cube", "insee_bis,insee", "--secret-passe-detail",
                                        "--sans-calage", "--no-report", "--millesime", "2026-10", "--annee-cog",
                                        "2026", "--run-id", "r1", "--out", str(tmp_path / "w")))
    assert settings.departements == ["38", "73", "2A"] and settings.departement == "38"
    assert settings.reference_dir == str(ref.resolve())
    assert (settings.perimetre, settings.perimetres_cube) == ("insee_bis", ["insee", "insee_bis"])
    assert settings.secret_passe_detail is True and settings.calage is False and settings.report is False
    # the steps receive them (and their cache keys hold them)
    params = settings.step_params()
    assert {k: params[k] for k in ("reference_dir", "perimetres_cube", "secret_passe_detail", "calage")} == {
        "reference_dir": str(ref.resolve()), "perimetres_cube": ["insee", "insee_bis"],
        "secret_passe_detail": True, "calage": False}
    # the flow's parameter is the same settings, and reads back to the same object
    assert Settings.from_dict(settings.parameters()).validated() == settings


@pytest.mark.parametrize("codes", [("-d", "38", "-d", "73"), ("-d", "38,73")])
def test_serve_refuses_several_departements(codes, capsys, monkeypatch):
    """`ess serve -d 38,73` served 38 alone and `-d 38 -d 73` 73 alone, without a word."""
    import flows.deployments
    from flows.cli import main

    def no_server():
        raise UserError("no server in this test")

    monkeypatch.setattr(flows.deployments, "require_server", no_server)

    assert main(["serve", *codes, "--sample"]) == 2
    assert "ess serve schedules the runs of one département, not 2 (38, 73)" in capsys.readouterr().err
    main(["serve", "-d", "2a", "-d", "2A", "--sample"])  # one département given twice: not refused for that
    assert "schedules the runs of one département" not in capsys.readouterr().err


def test_france_and_serve_take_the_same_options():
    france = Settings.from_args(parse("france", "--departements", "38,73", "--perimetre", "flag", "--force"))
    assert (france.perimetre, france.force) == ("flag", True)
    args = parse("serve", "-d", "73", "--sample", "--perimetre", "loi2014", "--sample-scale", "0.5")
    args.input_dir, args.download = None, False
    served = Settings.from_args(args)
    assert (served.departement, served.perimetre, served.sample_scale) == ("73", "loi2014", 0.5)


def test_a_repeated_departement_option_adds_up():
    """`ess run -d 38 -d 73` kept only 73 (while `ess france` added them up)."""
    assert Settings.from_args(parse("run", "-d", "38", "-d", "73,26")).departements == ["38", "73", "26"]


@pytest.mark.parametrize("flag", ["-d", "--departement"])
@pytest.mark.parametrize("codes", [("38", "73", "2a"), ("38,73,2a",), ("38,73", "2a"), ("38,", "73", "2A")],
                         ids=["spaces", "commas", "both", "comma-and-space"])
def test_run_and_france_take_several_departements_the_same_ways(monkeypatch, flag, codes):
    """`ess run -d 38 73` and `ess france --departements 38,73`: each command takes both forms."""
    import flows.france
    from flows.cli import main

    assert Settings.from_args(parse("run", flag, *codes)).departements == ["38", "73", "2A"]
    mapped = []
    monkeypatch.setattr(flows.france, "run_france", lambda departements, **_: mapped.append(departements) or {})
    for france_flag in (flag, "--departements"):
        assert main(["france", france_flag, *codes]) == 0
    assert [[code.upper() for code in given] for given in mapped] == [["38", "73", "2A"]] * 2


def test_the_options_name_their_values_in_french():
    from flows.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices
    english = {f"ess {verb} {action.option_strings[0]}": action.metavar
               for verb, parser in verbs.items() for action in parser._actions
               if action.option_strings and action.nargs != 0 and action.choices is None
               and action.metavar not in ("CODE", "DOSSIER", "AAAA-MM", "AAAA", "PERIMETRE", "ECHELLE", "NOM",
                                          "GRAINE", "FORMAT", "SOURCE", "SECONDES", "NOMBRE", "ADRESSE")}
    assert english == {}


# --- one rule per field ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, message", [
    ({"departement": "20"}, "unknown département '20': use an INSEE code of the COG"),
    ({"departements": ["38", "975"]}, "unknown département '975'"),
    ({"millesime": "2026-1"}, "millésime '2026-1' is not of the form YYYY-MM"),
    ({"annee_cog": "deux mille"}, "annee cog 'deux mille' is not a year"),
    ({"perimetre": "insee_bis"}, "unknown perimeter 'insee_bis'"),
    ({"perimetres_cube": ["flag"]}, r"--perimetres-cube \['flag'\] must include the run's perimeter 'insee'"),
    ({"perimetres_cube": ["insee", "tout"]}, r"--perimetres-cube: unknown perimeter\(s\) \['tout'\]"),
    ({"reference_dir": "/nonexistent/ref"}, "reference folder /nonexistent/ref does not exist"),
    ({"warehouse_dir": " "}, "the warehouse folder is empty"),
])
def test_each_rule_names_what_to_change(data_dir, given, message):
    with pytest.raises(UserError, match=message):
        Settings(**given).validated()


def test_several_departements_without_departement_are_the_first_ones_settings(data_dir):
    settings = Settings.from_dict({"departements": ["73", "26,2b"]}).validated()
    assert (settings.departement, settings.departements) == ("73", ["73", "26", "2B"])
    assert [s.departement for s in settings.every_departement()] == ["73", "26", "2B"]


def test_unknown_settings_are_refused():
    with pytest.raises(UserError, match=r"unknown setting\(s\) \['perimeter'\]"):
        Settings.from_dict({"perimeter": "insee"})


def test_the_perimeters_are_those_of_the_run_reference_folder(tmp_path):
    ref = own_reference(tmp_path / "ref")
    assert Settings(perimetre="insee_bis", reference_dir=str(ref)).validated().perimetre == "insee_bis"
    # a normalised value is kept as it is: validating twice changes nothing
    once = Settings(departement="2a", perimetre="insee_bis", reference_dir=str(ref)).validated()
    assert once.validated() == once and once.departement == "2A"


def test_settings_are_immutable_and_resolving_returns_new_ones(data_dir, inputs):  # noqa: F811
    from flows.inputs import resolve_inputs

    asked = Settings(input_dir=str(inputs)).validated()
    resolved, snapshots = resolve_inputs(asked)
    assert (asked.millesime, asked.annee_urssaf, asked.annee_cog) == (None, None, None)
    assert (resolved.millesime, resolved.annee_urssaf) == ("2026-10", 2025)
    assert snapshots["sirene"] == inputs / "sirene" / "2026-10" and snapshots["territoires"] is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        asked.millesime = "2026-11"


# --- the reference folder reaches every step and its cache key ---------------------------------------------------


def test_editing_the_reference_folder_recomputes_the_steps(prefect_harness, stubs, inputs, data_dir,  # noqa: F811
                                                           tmp_path, monkeypatch):
    import flows.pipeline as fp

    received = []
    real_core = fp.STEPS["core"]

    def core(tables, params, out_dir):
        received.append(params)
        return real_core(tables, params, out_dir)

    monkeypatch.setitem(fp.STEPS, "core", core)
    ref = own_reference(tmp_path / "ref")
    warehouse = data_dir / "entrepot"
    first = run(inputs, warehouse, reference_dir=str(ref), perimetres_cube=["insee", "insee_bis"])
    assert received[-1]["reference_dir"] == str(ref.resolve())
    assert received[-1]["perimetres_cube"] == ["insee", "insee_bis"]
    assert received[-1]["secret_passe_detail"] is False
    assert not any(c["reutilise"] for c in first["manifest"]["cache"].values())
    again = run(inputs, warehouse, reference_dir=str(ref), perimetres_cube=["insee", "insee_bis"])
    assert all(c["reutilise"] for c in again["manifest"]["cache"].values())

    (ref / "perimetres.csv").write_text((ref / "perimetres.csv").read_text(encoding="utf-8") + "\n",
                                        encoding="utf-8")  # one byte more: the user edited a reference file
    edited = run(inputs, warehouse, reference_dir=str(ref), perimetres_cube=["insee", "insee_bis"])
    assert {k: c["reutilise"] for k, c in edited["manifest"]["cache"].items()} == {
        "stage_territoires": False, "stage_sirene": False, "stage_urssaf": False, "core": False, "outputs": False}
    assert edited["manifest"]["parametres"]["reference_dir"] == str(ref.resolve())
