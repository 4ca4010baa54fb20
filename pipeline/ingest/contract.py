"""The canonical input contract: which entities the landing folder holds, their columns and types.

docs/input-contract.md documents the same contract for people; tests check that the two agree. An optional entity
(acquisition spend, the team list) may be absent from every source: its table is then empty, and what needs it is
NULL downstream (the opportunities' change history: stage durations then come from the snapshots of each load).
A column added to an entity after operators were already writing its files may be absent from a
file's header, so their files keep loading; it reads as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["id", "text", "timestamp", "date", "boolean", "number", "decimal"]

#: DuckDB type each contract type is stored as in schema `extracted`.
DUCKDB_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "boolean": "BOOLEAN",
    "number": "DOUBLE",
    "decimal": "DECIMAL(18, 2)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False  # a value must be present in every row
    may_be_absent: bool = False  # a file's header may lack the column (it reads as empty)
    #: (lowest, highest) value a number may take; a value outside puts the row in quarantine like one that does not
    #: parse (a probability is a percentage).
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class Entity:
    system: str  # folder under the landing directory: ma, sfa or crm
    name: str  # file or folder name inside the system folder
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # columns that identify one record; duplicates across files resolve to the newest
    #: Columns of personal data (APPI, GDPR): emptied when the person asks to be erased (pipeline/privacy).
    personal: tuple[str, ...] = ()
    #: (column, kind) pairs naming the person a row is about, by kind of identity (pipeline/privacy/redaction.py):
    #: a row of an erased person keeps its ids and timestamps, but loses its personal and extra columns.
    person: tuple[tuple[str, str], ...] = ()
    #: No file in any source is no error: extracted.<table> is then empty (docs/input-contract.md).
    optional: bool = False

    @property
    def table(self) -> str:
        """Table name in schema `extracted` (the identifier of its dbt source table)."""
        return f"{self.system}_{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def may_be_absent(self) -> tuple[str, ...]:
        """The columns a file's header may lack."""
        return tuple(c.name for c in self.columns if c.may_be_absent)


def _cols(*specs: str, bounds: dict[str, tuple[float, float]] | None = None) -> tuple[Column, ...]:
    """Columns from 'name:type' specs; a trailing '!' marks a value every row must have, a trailing '?' a column
    a file may leave out; `bounds` gives columns their range."""
    columns = []
    for spec in specs:
        name, kind = spec.split(":")
        columns.append(
            Column(name, kind.rstrip("!?"), kind.endswith("!"), kind.endswith("?"), (bounds or {}).get(name))  # type: ignore[arg-type]
        )
    return tuple(columns)


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "ma",
        "leads",
        _cols(
            "lead_id:id!",
            "email:text",
            "company:text",
            "created_at:timestamp!",
            "source:text",
            "campaign_id:id",
        ),
        ("lead_id",),
        personal=("email", "company"),
        person=(("lead_id", "ma_lead"), ("email", "email")),
    ),
    Entity(
        "ma",
        "mql_events",
        _cols(
            "lead_id:id!",
            "mql_at:timestamp!",
            "score:number",
            "sfa_lead_id:id",
        ),
        ("lead_id", "mql_at"),
        person=(("lead_id", "ma_lead"), ("sfa_lead_id", "sfa_lead")),
    ),
    Entity(
        "sfa",
        "leads",
        _cols(
            "lead_id:id!",
            "ma_lead_id:id",
            "created_at:timestamp!",
            "owner_id:id",
            "status:text",
            "first_contact_at:timestamp",
            "converted_at:timestamp",
            "converted_opportunity_id:id",
            "disqualified_at:timestamp",
            "disqualified_reason:text",
        ),
        ("lead_id",),
        person=(("lead_id", "sfa_lead"), ("ma_lead_id", "ma_lead")),
    ),
    Entity(
        "sfa",
        "opportunities",
        _cols(
            "opportunity_id:id!",
            "lead_id:id",
            "account_id:id",
            "owner_id:id",
            "type:text!",
            "created_at:timestamp!",
            "stage_name:text",
            "is_closed:boolean",
            "is_won:boolean",
            "closed_at:timestamp",
            "amount:decimal",
            "currency:text",
            "lost_reason:text",
            "close_date:date?",
            "probability:number?",
            "forecast_category:text?",
        ),
        ("opportunity_id",),
    ),
    Entity(
        "sfa",
        "opportunity_history",
        _cols(
            "opportunity_id:id!",
            "changed_at:timestamp!",
            "stage_name:text?",
            "amount:decimal?",
            "currency:text?",
            "close_date:date?",
            "probability:number?",
            "forecast_category:text?",
            # a bad probability costs one change (the values around it carry forward); on the opportunity itself
            # it would cost the deal, so there only the extract's quality check reports it
            bounds={"probability": (0, 100)},
        ),
        ("opportunity_id", "changed_at"),
        optional=True,
    ),
    Entity(
        "crm",
        "customers",
        _cols(
            "account_id:id!",
            "won_opportunity_id:id",
            "onboarded_at:timestamp!",
            "segment:text",
            "industry:text",
            "owner_id:id?",
        ),
        ("account_id",),
    ),
    Entity(
        "crm",
        "contracts",
        _cols(
            "contract_id:id!",
            "account_id:id!",
            "start_date:date!",
            "end_date:date",
            "mrr:decimal",
            "renewal_of_contract_id:id",
            "churned_at:timestamp",
            "churn_reason:text",
            "currency:text?",
        ),
        ("contract_id",),
    ),
    Entity(
        "ma",
        "spend",
        _cols(
            "month:date!",
            "cost_type:text!",
            "source:text?",
            "campaign_id:id?",
            "amount:decimal!",
            "currency:text?",
        ),
        ("month", "cost_type", "source", "campaign_id"),
        optional=True,
    ),
    Entity(
        "sfa",
        "users",
        _cols(
            "user_id:id!",
            "name:text?",
            "role:text!",
            "team:text?",
            "started_on:date?",
            "ended_on:date?",
        ),
        ("user_id",),
        personal=("name",),
        optional=True,
    ),
    Entity(
        "sfa",
        "exchange_rates",
        _cols(
            "month:date!",
            "currency:text!",
            "rate:number!",
        ),
        ("month", "currency"),
        optional=True,
    ),
)

ENTITIES_BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}
