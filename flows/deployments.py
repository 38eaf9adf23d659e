"""The scheduled deployments, served by `ess serve` against a running Prefect server.

- monthly refresh: INSEE publishes the SIRENE stocks on days 1–3 of each month (snapshot of the previous month's
  last day); on the 5th we download the new millésime and the URSSAF exports, rebuild and publish (no report).
- yearly full build with the report: URSSAF's yearly series come out about 250 days after the end of the year
  (early September) and the COG on 1 January; mid-October every source of the year is in, so the yearly run
  rebuilds everything and writes the annual report.
Schedules are in Paris time. A served deployment only runs while `ess serve` runs (stopping it pauses the
schedules); the ephemeral Prefect mode never schedules anything, hence the server.
"""

from __future__ import annotations

import os

from ess.errors import UserError
from ess.settings import Settings

MONTHLY_CRON = "0 6 5 * *"  # 06:00 on the 5th of every month
YEARLY_CRON = "0 6 15 10 *"  # 06:00 on 15 October
TIMEZONE = "Europe/Paris"
MONTHLY = "mensuel"
YEARLY = "annuel"


def deployment_name(kind: str, departement: str) -> str:
    return f"{kind}-dep{departement}"


def build_deployments(settings: Settings, *, interval: float | None = None,
                      kinds: tuple[str, ...] = (MONTHLY, YEARLY)) -> list:
    """The monthly and yearly deployments of the pipeline flow for the département of `settings` (validated here,
    now rather than at 6 a.m. on the 5th). Each deployment stores the settings as the flow's parameter, except the
    run id (each scheduled run gets its own) and the report (monthly: none, yearly: the report).

    `settings.download=False` with no `input_dir` serves the generated sample (to try the schedules); `interval`
    (seconds) replaces the crons by a short interval (for trials and the integration test); `kinds` picks the
    deployments.
    """
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.deployments.runner import EntrypointType

    from flows.pipeline import ess_pipeline

    config = settings.validated()
    if config.force:
        # every scheduled run would publish past every guard and still show as completed
        raise UserError("--force publishes one run past its guards (ess run --force), never the scheduled ones: "
                        "serve without it, and force a refused month by hand with `ess run --force`")
    common = config.parameters(without=("run_id", "report", "departements"))
    out = []
    for kind, cron, report, what in (
        (MONTHLY, MONTHLY_CRON, False, "monthly refresh after SIRENE's publication (no report)"),
        (YEARLY, YEARLY_CRON, True, "yearly full build with the annual report"),
    ):
        if kind not in kinds:
            continue
        schedule = IntervalSchedule(interval=interval) if interval else CronSchedule(cron=cron, timezone=TIMEZONE)
        deployment = ess_pipeline.to_deployment(
            name=deployment_name(kind, config.departement),
            parameters={"settings": {**common, "report": report}},
            description=f"ESS observatoire, département {config.departement}: {what}.",
            tags=["ess", f"dep{config.departement}", kind],
            entrypoint_type=EntrypointType.MODULE_PATH,  # runs from any working directory
            schedules=[schedule],
        )
        out.append(deployment)
    return out


def require_server() -> str:
    """Schedules need a real Prefect server: say how to start one when PREFECT_API_URL is not set, or when nothing
    answers there (after a reboot, the most common case)."""
    import urllib.error
    import urllib.request

    from prefect.settings import PREFECT_API_URL

    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    start = ("start one with `prefect server start --host 127.0.0.1 --analytics-off` in another terminal, then "
             "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run `ess serve` again")
    if not url:
        raise UserError(
            f"`ess serve` needs a running Prefect server (the temporary one of `ess run` never schedules): {start}")
    try:
        urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=10).close()
    except urllib.error.HTTPError:
        pass  # something answers: the server's own errors are its to report
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot reach the Prefect server at PREFECT_API_URL={url} ({reason}): is it running? "
                        f"If not, {start}") from None
    return url


def serve_deployments(deployments: list, *, limit: int | None = None) -> None:
    """Register the deployments with the server and run their scheduled flow runs until interrupted."""
    from prefect import serve

    require_server()
    serve(*deployments, limit=limit, print_starting_message=True)


def describe(deployments: list) -> list[str]:
    lines = []
    for d in deployments:
        schedules = ", ".join(
            f"cron {s.schedule.cron} ({s.schedule.timezone})" if getattr(s.schedule, "cron", None)
            else f"every {s.schedule.interval}" for s in d.schedules or [])
        lines.append(f"ess-observatoire/{d.name}: {schedules}; parameters {d.parameters}")
    return lines

