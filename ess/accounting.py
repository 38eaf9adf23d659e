"""Row accounting: every file read is reconciled as read = staged + rejected + out of scope.

A national file read for several départements is accounted twice: once nationally (`departement` None: each row
staged in at least one département, rejected once, or out of every scope) and once per département d
(`departement` = d: rows staged for d, rejected rows of d, and the rest of the file as out of d's scope).

Out of scope holds a share that is no statement about the département: the rows of a file matched on the
establishments' keys (legal units, histories) whose key is only that of establishments read in scope but rejected
(`rows_without_kept_establishment`, « sans établissement retenu »). They are counted inside out of scope, so that the
identity stays read = staged + rejected + out of scope; they would have been staged had an establishment been kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class ReconciliationError(RuntimeError):
    pass


@dataclass
class FileStats:
    source: str  # "sirene"
    table: str  # staging table fed by the file
    file: str  # path of the raw file
    millesime: str
    sha256: str | None = None
    rows_read: int = 0
    rows_out_of_scope: int = 0  # other départements, or units no in-scope row needs
    rows_staged: int = 0
    rows_rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows
    departement: str | None = None  # None: the accounting of the whole file; else that département's share
    # of rows_out_of_scope: rows whose key is only that of establishments of the département(s) that were rejected
    rows_without_kept_establishment: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rows_rejected.values())

    def check(self) -> None:
        scope = f" (département {self.departement})" if self.departement else ""
        total = self.rows_staged + self.rejected_total + self.rows_out_of_scope
        if total != self.rows_read:
            raise ReconciliationError(
                f"{self.file}{scope}: {self.rows_read} rows read but {self.rows_staged} staged + "
                f"{self.rejected_total} rejected + {self.rows_out_of_scope} out of scope = {total}; "
                "a step lost or duplicated rows — this is a bug, please report it with this file"
            )
        if not 0 <= self.rows_without_kept_establishment <= self.rows_out_of_scope:
            raise ReconciliationError(
                f"{self.file}{scope}: {self.rows_without_kept_establishment} rows without a kept establishment, "
                f"but they are a share of the {self.rows_out_of_scope} rows out of scope; this is a bug, please "
                "report it with this file"
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows_rejected_total"] = self.rejected_total
        return d


@dataclass
class NationalStaging:
    """The accounting of a source staged once for several départements: `national` (one FileStats per file) and
    `par_departement` ({département: one FileStats per file}); `absents`, the requested départements the files do
    not hold at all (the source decides what that means); `partitions`, the département partitions the source wrote
    itself ({table: {département: Parquet file}}), laid out as they are instead of exported from its tables."""

    departements: list[str]
    national: list[FileStats] = field(default_factory=list)
    par_departement: dict[str, list[FileStats]] = field(default_factory=dict)
    absents: list[str] = field(default_factory=list)
    partitions: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(self) -> None:
        for stats in [*self.national, *(s for per in self.par_departement.values() for s in per)]:
            stats.check()

    def to_dict(self) -> dict:
        """What a staging step keeps in its StepOutput.stats for the source."""
        return {"national": [s.to_dict() for s in self.national],
                "departements": {d: [s.to_dict() for s in per] for d, per in self.par_departement.items()},
                "absents": list(self.absents)}
