"""Charts and the annual PDF report of the ESS observatory (matplotlib only; never imports Prefect)."""
