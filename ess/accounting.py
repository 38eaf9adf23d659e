"""Row accounting: every file read is reconciled as read = staged + rejected + out of scope."""

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

    @property
    def rejected_total(self) -> int:
        return sum(self.rows_rejected.values())

    def check(self) -> None:
        total = self.rows_staged + self.rejected_total + self.rows_out_of_scope
        if total != self.rows_read:
            raise ReconciliationError(
                f"{self.file}: {self.rows_read} rows read but {self.rows_staged} staged + "
                f"{self.rejected_total} rejected + {self.rows_out_of_scope} out of scope = {total}; "
                "a step lost or duplicated rows — this is a bug, please report it with this file"
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows_rejected_total"] = self.rejected_total
        return d
