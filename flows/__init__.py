"""Prefect flows and deployments: composition only. The steps live in sources/, transforms/ and reports/."""
