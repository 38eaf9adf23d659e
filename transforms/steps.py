"""What a step returns: the tables it wrote (name -> Parquet path) and its figures. JSON-serialisable so that
Prefect can persist and cache it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class StepOutput:
    tables: dict[str, str] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StepOutput":
        return cls(tables=dict(d.get("tables", {})), stats=dict(d.get("stats", {})))

    def merged(self, *others: "StepOutput") -> "StepOutput":
        """All tables of several steps, for the next step's inputs."""
        tables = dict(self.tables)
        stats = dict(self.stats)
        for other in others:
            tables.update(other.tables)
            stats.update(other.stats)
        return StepOutput(tables, stats)
