"""All of France is one flow mapped over départements: here two départements (38 and 73) on samples generated at a
tiny scale, in parallel on prefect-dask's DaskTaskRunner with a local Dask cluster of two worker processes
(marked `slow`; ≈ 30–60 s).

Worker processes are fresh interpreters: the stand-in steps of test_flows.py reach them through a sitecustomize
shim on PYTHONPATH. The stand-in core step waits at a rendezvous until both départements are inside it — run one
after the other, the first would wait alone and fail — so the test proves that they ran at the same time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from test_flows import RENDEZVOUS, prefect_harness  # noqa: F401 — fixture


TESTS = Path(__file__).resolve().parent
SHIM = '''\
# Test only: the Dask workers use the stand-in steps of tests/test_flows.py.
import os

if os.environ.get("ESS_TEST_RENDEZVOUS"):
    import flows.pipeline
    import test_flows
    flows.pipeline.STEPS.update({k: v for k, v in test_flows.STUBS.items() if k != "fetch"})
'''


@pytest.mark.slow  # Dask integration (a "dask" marker is requested in pyproject.toml)
def test_two_departements_run_in_parallel_on_a_local_dask_cluster(prefect_harness, data_dir, tmp_path, monkeypatch):
    import flows.pipeline
    import test_flows
    from flows.france import run_france

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shim), str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv(RENDEZVOUS, str(tmp_path / "rendezvous"))
    monkeypatch.setenv("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    for name, target in test_flows.STUBS.items():  # the flow process too (it runs no step itself)
        monkeypatch.setitem(flows.pipeline.STEPS, name, target)

    results = run_france(["38", "73"], n_workers=2,
                         settings={"sample_scale": 0.01, "warehouse_dir": str(data_dir / "entrepot")})

    assert sorted(results) == ["38", "73"]
    assert len({r["worker"] for r in results.values()}) == 2  # two worker processes
    assert sorted(p.name for p in (tmp_path / "rendezvous").iterdir()) == ["38", "73"]
    for dep, r in results.items():
        manifest = json.loads(Path(r["manifest_path"]).read_text(encoding="utf-8"))
        assert manifest["parametres"]["departement"] == dep and manifest["synthetic"] is True
        assert (data_dir / "sample" / f"dep{dep}-x0.01" / "SYNTHETIC.md").is_file()  # the real sample generator
        assert r["headline"]["nb_etablissements_ess"] > 0
    # both publications share one warehouse and one catalog
    public = data_dir / "entrepot" / "public" / "out_indicateurs_public"
    assert sorted(p.name for p in public.iterdir()) == ["departement_38", "departement_73"]
    assert (data_dir / "entrepot" / "ess.duckdb").is_file()


def test_dask_address_points_the_runner_at_an_existing_cluster():
    from flows.france import task_runner

    runner = task_runner("tcp://10.0.0.5:8786")
    assert runner.address == "tcp://10.0.0.5:8786"
    local = task_runner(n_workers=3)
    assert local.address is None and local.cluster_kwargs["n_workers"] == 3


def test_departement_list_defaults_to_every_departement_of_the_reference():
    from flows.france import departement_list

    every = departement_list(None)
    assert {"01", "2A", "2B", "38", "73", "971", "976"} <= set(every) and len(every) >= 100
    assert departement_list([" 38", "73", "38"]) == ["38", "73"]
