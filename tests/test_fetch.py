"""`ess fetch` end to end against a fake data.gouv API and a fake open.urssaf.fr portal on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

try:
    from tests.http_server import LocalServer
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from http_server import LocalServer

from flows import cli
from ess.errors import UserError
from sources import fetch as fetch_mod
from sources.download import DownloadError, read_manifest
from sources.fetch import fetch_territoires, millesime_from_publication, publication_date
from sources.registry import fetch
from sources.territories import SOURCE as TERRITOIRES
from sources.sirene_layouts import ETABLISSEMENT_54, SOURCE, csv_member_name

DATASET = SOURCE.dataset_id
STOCKS = ("unites_legales", "etablissements", "unites_legales_historique", "etablissements_historique")
PUBLISHED = "2026-05-02T04:31:07.123000+00:00"  # → millésime 2026-04


def parquet_bytes(stock: str) -> bytes:
    table = pa.table({"siren": ["000325175", "552100554"], "nic": ["00016", "00041"], "stock": [stock, stock]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def zip_bytes(stock: str) -> bytes:
    header = ",".join(ETABLISSEMENT_54)
    row = ",".join(["000325175", "00016", "00032517500016"] + [""] * (len(ETABLISSEMENT_54) - 3))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(csv_member_name(stock), f"{header}\n{row}\n")
    return buf.getvalue()


class FakeDataGouv:
    """data.gouv.fr: the dataset API, stable links /datasets/r/<id> redirecting to /object/<file>."""

    def __init__(self, srv: LocalServer, published: str = PUBLISHED):
        self.srv, self.bodies, self.resources = srv, {}, []
        for stock in STOCKS:
            for fmt, make in (("parquet", parquet_bytes), ("csv", zip_bytes)):
                sf = SOURCE.file(f"{stock}_{fmt}")
                body = make(stock)
                self.bodies[sf.filename] = body
                srv.add_file(f"/object/sirene/{sf.filename}", body)
                srv.add_redirect(f"/datasets/r/{sf.resource_id}", f"/object/sirene/{sf.filename}")
                self.resources.append({
                    "id": sf.resource_id,
                    "title": f"Sirene : Fichier {sf.filename} du 30 Avril 2026",  # never parsed
                    "url": srv.url(f"/object/sirene/{sf.filename}"),
                    "filesize": len(body),
                    "checksum": {"type": "sha1", "value": hashlib.sha1(body).hexdigest()},
                    "created_at": "2017-10-02T09:00:00",
                    "last_modified": published,
                })
        self.publish()

    def publish(self):
        self.srv.add_json(f"/api/1/datasets/{DATASET}/", {"id": DATASET, "resources": self.resources})

    def file_requests(self) -> int:
        return sum(1 for r in self.srv.requests if r.path.startswith(("/object/", "/datasets/r/")))


@pytest.fixture
def srv(monkeypatch):
    with LocalServer() as server:
        monkeypatch.setenv("ESS_DATA_GOUV_BASE_URL", server.url())
        monkeypatch.setenv("ESS_URSSAF_BASE_URL", server.url())
        yield server


@pytest.fixture
def datagouv(srv):
    return FakeDataGouv(srv)


# --- millésime rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "published, expected",
    [
        ("2026-05-02T04:31:07+00:00", "2026-04"),
        ("2026-01-01T06:00:00+00:00", "2025-12"),  # across the year
        ("2026-05-31T23:30:00+00:00", "2026-05"),  # 1 June 01:30 in Paris: published in June
        ("2026-03-03T10:00:00", "2026-02"),  # data.gouv dates without offset are UTC
        ("2025-12-16T09:00:00Z", "2025-11"),  # the extra NAF 2025 stock of 16 Dec 2025
    ],
)
def test_millesime_is_the_month_before_publication(published, expected):
    assert millesime_from_publication(publication_date({"last_modified": published})) == expected


def test_publication_date_prefers_last_modified():
    res = {"created_at": "2017-10-02T09:00:00", "last_modified": "2026-05-02T00:00:00+00:00"}
    assert publication_date(res) == datetime(2026, 5, 2, tzinfo=timezone.utc)


# --- SIRENE -----------------------------------------------------------------------------------------------------


def test_fetch_sirene_parquet_end_to_end(data_dir, srv, datagouv):
    root = data_dir / "raw"
    paths = fetch(root, millesime=None, departement="38", sources=["sirene"], formats=None)
    snap = root / "sirene" / "2026-04"
    assert paths == [snap / f for f in ("StockUniteLegale_utf8.parquet", "StockEtablissement_utf8.parquet",
                                        "StockUniteLegaleHistorique_utf8.parquet",
                                        "StockEtablissementHistorique_utf8.parquet")]
    for p in paths:
        assert p.read_bytes() == datagouv.bodies[p.name]
    assert pq.read_table(snap / "StockEtablissement_utf8.parquet").column("siren").to_pylist()[0] == "000325175"
    assert not list(snap.glob("*.zip")) and not list(snap.glob("*.part"))

    m = read_manifest(snap)
    assert m["millesime"] == "2026-04"
    assert m["source"]["dataset_id"] == DATASET and m["source"]["producer"] == "INSEE"
    assert "month before the publication date" in m["regle_millesime"]
    entry = {e["name"]: e for e in m["files"]}["StockEtablissement_utf8.parquet"]
    body = datagouv.bodies["StockEtablissement_utf8.parquet"]
    rid = SOURCE.file("etablissements_parquet").resource_id
    assert entry["url"] == srv.url(f"/datasets/r/{rid}")  # the stable link, not the current host
    assert entry["final_url"] == srv.url("/object/sirene/StockEtablissement_utf8.parquet")
    assert entry["size"] == len(body) and entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["resource_id"] == rid and entry["format"] == "parquet" and entry["stock"] == "etablissements"
    assert entry["published_at"].startswith("2026-05-02T04:31:07")
    assert entry["retrieved_at"].endswith("+00:00")
    assert len(m["files"]) == 4


def test_refetch_downloads_nothing(data_dir, srv, datagouv):
    root = data_dir / "raw"
    fetch(root, millesime=None, departement="38", sources=["sirene"], formats=["parquet"])
    first = read_manifest(root / "sirene" / "2026-04")
    n = datagouv.file_requests()
    assert n == 8  # 4 stable links + 4 redirected files
    again = fetch(root, millesime="2026-04", departement="38", sources=["sirene"], formats=["parquet"])
    assert datagouv.file_requests() == n  # only the API was asked
    assert len(again) == 4
    second = read_manifest(root / "sirene" / "2026-04")
    assert [e["retrieved_at"] for e in second["files"]] == [e["retrieved_at"] for e in first["files"]]


def test_refetch_without_published_checksum_uses_the_manifest(data_dir, srv, datagouv):
    for r in datagouv.resources:
        r["checksum"] = None
    datagouv.publish()
    root = data_dir / "raw"
    fetch(root, millesime=None, departement="38", sources=["sirene"], formats=None)
    n = datagouv.file_requests()
    fetch(root, millesime=None, departement="38", sources=["sirene"], formats=None)
    assert datagouv.file_requests() == n
    # a new publication (new date) is downloaded again even though the size did not change
    for r in datagouv.resources:
        r["last_modified"] = "2026-05-03T08:00:00+00:00"
    datagouv.publish()
    fetch(root, millesime=None, departement="38", sources=["sirene"], formats=None)
    assert datagouv.file_requests() == 2 * n


def test_fetch_sirene_csv_zips(data_dir, srv, datagouv):
    paths = fetch(data_dir / "raw", millesime=None, departement="38", sources=["sirene"], formats=["csv"])
    assert [p.name for p in paths] == [SOURCE.file(f"{s}_csv").filename for s in STOCKS]
    with zipfile.ZipFile(paths[1]) as z:
        header = z.read("StockEtablissement_utf8.csv").decode().splitlines()[0]
    assert header.split(",") == list(ETABLISSEMENT_54)
    formats = {e["format"] for e in read_manifest(paths[0].parent)["files"]}
    assert formats == {"csv"}


def test_requested_millesime_not_current_is_refused(data_dir, srv, datagouv):
    with pytest.raises(UserError) as err:
        fetch(data_dir / "raw", millesime="2026-02", departement="38", sources=["sirene"], formats=None)
    msg = str(err.value)
    assert "2026-02" in msg and "only serve the latest" in msg and "2026-04" in msg
    assert datagouv.file_requests() == 0


def test_api_checksum_mismatch_leaves_no_file(data_dir, srv, datagouv):
    datagouv.resources[0]["checksum"]["value"] = "0" * 40  # StockUniteLegale_utf8.parquet
    datagouv.publish()
    root = data_dir / "raw"
    with pytest.raises(DownloadError, match="StockUniteLegale_utf8.parquet .*failed verification: sha1"):
        fetch(root, millesime=None, departement="38", sources=["sirene"], formats=None)
    snap = root / "sirene" / "2026-04"
    assert not (snap / "StockUniteLegale_utf8.parquet").exists()
    assert not list(snap.glob("*.part"))
    assert read_manifest(snap) == {}


def test_files_of_different_months_are_refused(data_dir, srv, datagouv):
    datagouv.resources[2]["last_modified"] = "2026-04-02T04:00:00+00:00"  # one file still of last month
    datagouv.publish()
    with pytest.raises(UserError, match="do not belong to the same month"):
        fetch(data_dir / "raw", millesime=None, departement="38", sources=["sirene"], formats=None)


def test_unknown_resource_id_is_a_clear_error(data_dir, srv, datagouv):
    datagouv.resources = [r for r in datagouv.resources if r["id"] != SOURCE.file("etablissements_parquet")
                          .resource_id]
    datagouv.publish()
    with pytest.raises(UserError, match="resource id may have changed; check https://www.data.gouv.fr/datasets/"):
        fetch(data_dir / "raw", millesime=None, departement="38", sources=["sirene"], formats=None)


# --- URSSAF -----------------------------------------------------------------------------------------------------

ESS_HEADER = ("region;ancienne_region;departement;champ_ess;famille_ess;annee;code_region;code_ancienne_region;"
              "code_departement;nombre_d_etablissements;effectifs_salaries_moyens;masse_salariale")
ESS_CSV = "\ufeff" + "\n".join([
    ESS_HEADER,
    "Auvergne-Rhône-Alpes;Rhône-Alpes;Isère;ESS;Associations;2023;84;82;38;3120.5;41000.25;1200000000",
    "Auvergne-Rhône-Alpes;Rhône-Alpes;Isère;ESS;Associations;2024;84;82;38;3101.0;41500.0;1250000000",
    "Auvergne-Rhône-Alpes;Rhône-Alpes;Isère;ESS;Coopératives;2024;84;82;38;410.0;9000.0;400000000",
]) + "\n"
APE_HEADER = ("region;ancienne_region;departement;zone_d_emploi;epci;commune;intitule_commune;"
              "grand_secteur_d_activite;secteur_na17;secteur_na38;secteur_na88;ape;code_region;"
              "code_ancienne_region;code_departement;code_zone_d_emploi;code_epci;code_commune;code_ape;"
              "nombre_d_etablissements_2023;effectifs_salaries_2023;nombre_d_etablissements_2024;"
              "effectifs_salaries_2024;nombre_d_etablissements_2025;effectifs_salaries_2025")
APE_CSV = "\ufeff" + "\n".join([
    APE_HEADER,
    "Auvergne-Rhône-Alpes;Rhône-Alpes;Isère;Grenoble;Grenoble-Alpes-Métropole;Grenoble;38185 Grenoble;"
    "Services;OQ;QA;88;8899B Autre action sociale;84;82;38;8409;200040715;38185;8899B;12;140;12;150;13;",
]) + "\n"
EXPORT = "/api/explore/v2.1/catalog/datasets/{}/exports/csv"
META = "/api/explore/v2.1/catalog/datasets/{}"


@pytest.fixture
def urssaf(srv):
    for dataset, body in ((fetch_mod.URSSAF_ESS, ESS_CSV), (fetch_mod.URSSAF_COMMUNE_APE, APE_CSV)):
        srv.add_file(EXPORT.format(dataset), body.encode("utf-8"), content_type="text/csv; charset=utf-8")
        srv.add_json(META.format(dataset), {"dataset_id": dataset,
                                             "metas": {"default": {"data_processed": "2026-04-20T08:00:00+00:00"}}})
    return srv


def export_requests(srv):
    return [r for r in srv.requests if r.path.endswith("/exports/csv")]


def test_fetch_urssaf_end_to_end(data_dir, urssaf):
    root = data_dir / "raw"
    paths = fetch(root, millesime=None, departement="38", sources=["urssaf"], formats=None)
    snap = root / "urssaf" / "2024"  # the ESS file ends in 2024, the commune × APE one in 2025
    assert paths == [snap / f"{fetch_mod.URSSAF_ESS}.csv", snap / f"{fetch_mod.URSSAF_COMMUNE_APE}.csv"]
    assert paths[0].read_bytes() == ESS_CSV.encode("utf-8")  # saved unchanged, BOM included
    reqs = export_requests(urssaf)
    assert [r.query["where"] for r in reqs] == [['code_departement="38"']] * 2
    assert [(r.query["delimiter"], r.query["use_labels"]) for r in reqs] == [([";"], ["false"])] * 2
    m = read_manifest(snap)
    assert m["millesime"] == "2024" and m["departements"] == ["38"] and m["source"]["source"] == "urssaf"
    by_name = {e["name"]: e for e in m["files"]}
    ess = by_name[f"{fetch_mod.URSSAF_ESS}.csv"]
    assert (ess["annee_max"], ess["lignes"]) == (2024, 3)
    assert ess["sha256"] == hashlib.sha256(ESS_CSV.encode()).hexdigest()
    assert ess["url"].startswith(urssaf.url(EXPORT.format(fetch_mod.URSSAF_ESS)))
    assert by_name[f"{fetch_mod.URSSAF_COMMUNE_APE}.csv"]["annee_max"] == 2025
    assert [p.name for p in (root / "urssaf").iterdir()] == ["2024"]  # no temporary folder left


def test_urssaf_refetch_unchanged_then_second_departement(data_dir, urssaf):
    root = data_dir / "raw"
    fetch(root, millesime=None, departement="38", sources=["urssaf"], formats=None)
    fetch(root, millesime=None, departement="38", sources=["urssaf"], formats=None)
    assert len(export_requests(urssaf)) == 2  # the portal's data did not change: nothing downloaded again
    fetch(root, millesime=None, departement="73", sources=["urssaf"], formats=None)
    last = export_requests(urssaf)[-1]
    assert last.query["where"] == ['code_departement="38" OR code_departement="73"']
    assert read_manifest(root / "urssaf" / "2024")["departements"] == ["38", "73"]


def test_urssaf_empty_export_is_an_error(data_dir, urssaf):
    urssaf.add_file(EXPORT.format(fetch_mod.URSSAF_ESS), ("\ufeff" + ESS_HEADER + "\n").encode())
    root = data_dir / "raw"
    with pytest.raises(UserError, match="holds no row for département"):
        fetch(root, millesime=None, departement="38", sources=["urssaf"], formats=None)
    assert list((root / "urssaf").iterdir()) == []


@pytest.mark.parametrize("code", ["38 OR 1=1", "20", "99"])
def test_bad_departement_is_refused_by_the_same_rule_as_a_run(data_dir, code, capsys):
    """`ess fetch` checks the département against the COG reference, like `ess run` (Corsica is 2A/2B, not 20)."""
    assert cli.main(["fetch", "--source", "urssaf", "-d", code, "--out", str(data_dir / "raw")]) == 2
    assert f"unknown département '{code}': use an INSEE code of the COG" in capsys.readouterr().err
    assert cli.main(["run", "-d", code]) == 2
    assert f"unknown département '{code}': use an INSEE code of the COG" in capsys.readouterr().err
    assert not (data_dir / "raw").exists()
    with pytest.raises(UserError, match="not a département code"):  # and the portal's filter never gets it
        fetch(data_dir / "raw", millesime=None, departement=code, sources=["urssaf"], formats=None)


# --- territories and CLI -----------------------------------------------------------------------------------------


def test_territoires_default_to_reference_data(data_dir, capsys):
    """Nothing to download: the line says what is read instead, and where files of another year go by hand."""
    assert fetch(data_dir / "raw", millesime=None, departement="38", sources=["territoires"], formats=None) == []
    said = capsys.readouterr().err
    assert "territoires : rien à télécharger" in said and "data/reference/, COG 2026" in said
    assert f"déposés à la main dans {data_dir / 'raw' / 'territoires'}/<année>/ (v_commune_<année>.csv, " \
           f"v_mvt_commune_<année>.csv, epcicom<année>.xlsx, " in said
    assert f"lus avec --input {data_dir / 'raw'}" in said


def test_cli_fetch_from_an_address_where_nothing_answers(data_dir, monkeypatch, capsys):
    """Each attempt is shown as it fails; the message names the variable that set the address; exit 2."""
    import socket

    import sources.download

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ESS_DATA_GOUV_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(sources.download, "BACKOFF_SECONDS", 0.0)
    assert cli.main(["fetch", "--source", "sirene", "--out", str(data_dir / "raw")]) == 2
    err = capsys.readouterr().err
    assert err.count(f"connexion refusée par 127.0.0.1:{port}") == 4
    assert "tentative 3/4 — connexion refusée" in err and "nouvel essai dans 0,0 s" in err
    assert f"connection refused by 127.0.0.1:{port} — after 4 attempts. Nothing answers at that address" in err
    assert f"it comes from ESS_DATA_GOUV_BASE_URL=http://127.0.0.1:{port}: check that variable" in err


def test_fetch_territoires_with_given_addresses(data_dir, srv):
    body = b"COM,REG,DEP,CTCD,ARR,TNCC,NCC,NCCENR,LIBELLE,CAN,COMPARENT\n"
    srv.add_file("/cog/2026/v_commune_2026.csv", body)
    paths = fetch_territoires(data_dir / "raw", files={"v_commune_2026.csv": "cog/2026/v_commune_2026.csv"},
                              source=TERRITOIRES, annee="2026", base_url=srv.url())
    assert paths == [data_dir / "raw" / "territoires" / "2026" / "v_commune_2026.csv"]
    assert paths[0].read_bytes() == body
    assert read_manifest(paths[0].parent)["files"][0]["size"] == len(body)


def test_cli_fetch(data_dir, srv, datagouv, capsys):
    out = data_dir / "raw"
    assert cli.main(["fetch", "--source", "sirene", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 4
    assert set(printed) == {str(p) for p in (out / "sirene" / "2026-04").glob("*.parquet")}
    assert cli.main(["fetch", "--source", "sirene", "--millesime", "2025-01", "--out", str(out)]) == 2
    assert "only serve the latest" in capsys.readouterr().err


def test_a_missing_snapshot_sends_to_ess_fetch_only_where_it_helps(data_dir):
    """Each hint says what `ess fetch` really does for the source: SIRENE's latest millésime only, URSSAF's latest
    year (which holds the earlier ones), no COG file at all — and where the files go, read with which --input."""
    from ess import db, paths
    from ess.settings import Settings
    from sources import registry, territories

    raw = paths.raw_dir()
    sample = data_dir / "sample" / "dep38"
    (sample / "sirene" / "2026-10").mkdir(parents=True)
    (sample / "SYNTHETIC.md").write_text("synthétique\n", encoding="utf-8")
    with pytest.raises(UserError) as err:  # `ess run --millesime 2019-01` on the sample
        registry.source("sirene").snapshot(sample, "2019-01")
    assert str(err.value) == (
        f"no sirene snapshot '2019-01' under {sample / 'sirene'}; available: ['2026-10']. `ess fetch --source sirene` "
        "downloads the latest millésime only (older ones are not served any more): fetch it and run with --input "
        f"{raw} without --millesime, or put the official files of 2019-01 you have in {raw}/sirene/2019-01/ and run "
        f"with --input {raw}")

    with pytest.raises(UserError) as err:  # `ess run --annee-cog 2019` on the sample: no snapshot, no reference
        territories.load(db.connect(), None, departement="38", annee_cog=2019)
    assert str(err.value) == (
        "no COG 2019 territory files: the input has no territory snapshot of 2019 and the committed reference has COG "
        "2026 only (communes_2019.csv missing). `ess fetch` does not download the territoires files: put the official "
        "ones (v_commune_2019.csv, v_mvt_commune_2019.csv, epcicom2019.xlsx, donnees_communes.csv, "
        f"ZE2020_au_01-01-2019.xlsx) in {raw}/territoires/2019/ and run with --input {raw}; or choose --annee-cog 2026")

    official = data_dir / "officiel"
    (official / "territoires" / "2026").mkdir(parents=True)
    with pytest.raises(UserError) as err:  # a COG year asked for with --input must be in it
        territories.find_snapshot(official, Settings(annee_cog=2019, input_dir=str(official)))
    assert f"`ess fetch` does not download the territoires files: put the official ones (v_commune_2019.csv, " \
           f"v_mvt_commune_2019.csv, epcicom2019.xlsx, donnees_communes.csv, ZE2020_au_01-01-2019.xlsx) in " \
           f"{official}/territoires/2019/ and run with --input {official}" in str(err.value)
    assert "ess fetch --source territoires" not in str(err.value)

    with pytest.raises(UserError) as err:
        registry.source("urssaf").snapshot(official, "2024")
    assert str(err.value).endswith(
        f"available: none. Run `ess fetch --source urssaf --out {official}` (it downloads the latest year, whose "
        "files hold the earlier years too), or point --input at a folder of official files.")
