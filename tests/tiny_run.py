"""The steps of one run, called directly (no Prefect, no cache) on a tiny generated sample: staging of every source,
core, outputs. For tests that need every table a run produces (the field dictionary's coverage, the worked change
of docs/CONTRIBUTING.md)."""

from __future__ import annotations

from pathlib import Path

from ess.settings import Settings
from flows.inputs import resolve_inputs
from sources import registry


def sample_inputs(input_dir: Path, *, departement: str = "38", scale: float = 0.02) -> tuple[dict, dict]:
    """The sample's snapshots (generated in `input_dir` when missing) and the run's parameters."""
    from sources.sample import write_sample

    if not (Path(input_dir) / "synthetic.json").exists():
        write_sample(Path(input_dir), departement=departement, scale=scale)
    settings = Settings.from_dict({"departement": departement, "input_dir": str(input_dir),
                                   "sample_scale": scale}).validated()
    settings, inputs = resolve_inputs(settings)
    params = {**settings.step_params(), "departements": [departement], "secret_processus": 1}
    return inputs, params


def stage_all(inputs: dict, params: dict, out_dir: Path) -> dict[str, str]:
    from transforms.staging import departement_tables, stage_source

    tables: dict[str, str] = {}
    for source in registry.names():
        keys = registry.source(source).stage_params
        if inputs.get(source) is None:
            continue
        output = stage_source(source, inputs[source], {k: params[k] for k in keys}, out_dir / source)
        tables.update(departement_tables(output, params["departement"]) if "departements" in keys
                      else output.tables)
    return tables


def build(tables: dict[str, str], params: dict, out_dir: Path) -> dict[str, str]:
    """core then outputs; returns every table (staging, core, out) by name."""
    from transforms.core import build_core
    from transforms.outputs import build_outputs

    core = build_core({k: Path(v) for k, v in tables.items()}, params, out_dir / "core")
    everything = {**tables, **core.tables}
    outputs = build_outputs({k: Path(v) for k, v in everything.items()}, params, out_dir / "out")
    return {**everything, **outputs.tables}
