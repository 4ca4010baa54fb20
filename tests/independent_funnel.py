"""An independent computation of marts.funnel_kpi_monthly with pandas, straight from the landing files.

It shares no code with the pipeline: its own file discovery, timestamp parsing, hand-over linking and
period cutting, following the definitions in ../shared/DOMAIN.md and docs/input-contract.md.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TZ = "Asia/Tokyo"
AGING_DAYS = 180
STAGES = ["marketing", "inside_sales", "field_sales", "customer_success"]


def _read(landing: Path, system: str, entity: str) -> pd.DataFrame:
    folder = landing / system / entity
    frames = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".csv":
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        elif path.suffix == ".parquet":
            frames.append(pd.read_parquet(path).astype(str))
    df = pd.concat(frames, ignore_index=True)
    return df.replace({"": None, "None": None, "nan": None})


def _ts(values: pd.Series) -> pd.Series:
    """ISO with offset, or naive `YYYY/MM/DD HH:MM:SS` / `YYYY-MM-DD HH:MM:SS` read in Asia/Tokyo; as UTC."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    present = values.notna()
    has_offset = present & values.fillna("").str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if has_offset.any():
        out[has_offset] = pd.to_datetime(values[has_offset], utc=True, format="ISO8601")
    naive = present & ~has_offset
    if naive.any():
        local = pd.to_datetime(values[naive].str.replace("/", "-"), format="ISO8601")
        out[naive] = local.dt.tz_localize(TZ).dt.tz_convert("UTC")
    return out


def _month(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M")


def _lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """table[key] for each key (NaN/NaT where absent), aligned with keys."""
    return pd.Series(table.reindex(keys.to_numpy()).to_numpy(), index=keys.index, dtype=table.dtype)


def _bool(values: pd.Series) -> pd.Series:
    return values.fillna("false").str.lower().isin(["true", "t", "1", "yes", "y"])


def stage_entries(
    landing: Path, as_of: pd.Timestamp | None = None, with_ma: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """Per stage, one row per entry with entry_type, entered_at, advanced_at and dropped_at (as of as_of), and
    who owns it: owner_id (inside and field sales; inside sales also received_at and first_contact_at, field sales
    the amount) or account_id (customer success).
    Without an MA (with_ma=False) there is no marketing stage and every SFA lead starts in inside sales."""
    empty = pd.DataFrame(
        {
            "lead_id": pd.Series(dtype=str),
            "created_at": pd.Series(dtype=str),
            "mql_at": pd.Series(dtype=str),
            "sfa_lead_id": pd.Series(dtype=str),
        }
    )
    ma = _read(landing, "ma", "leads") if with_ma else empty
    mql = _read(landing, "ma", "mql_events") if with_ma else empty.copy()
    sfa = _read(landing, "sfa", "leads")
    if not with_ma:
        sfa["ma_lead_id"] = None
    opp = _read(landing, "sfa", "opportunities")
    cust = _read(landing, "crm", "customers")
    con = _read(landing, "crm", "contracts")

    ma["created"] = _ts(ma["created_at"])
    mql["at"] = _ts(mql["mql_at"])
    for col in ("created_at", "converted_at", "disqualified_at", "first_contact_at"):
        sfa[col] = _ts(sfa[col])
    for col in ("created_at", "closed_at"):
        opp[col] = _ts(opp[col])
    cust["onboarded"] = _ts(cust["onboarded_at"])
    con["churned"] = _ts(con["churned_at"])
    con["start"] = pd.to_datetime(con["start_date"].str.replace("/", "-"))

    if as_of is None:
        # a change in the optional sfa/opportunity_history (a close date pushed) is an event too
        history = landing / "sfa" / "opportunity_history"
        has_changes = history.is_dir() and any(p.suffix in (".csv", ".parquet") for p in history.rglob("*"))
        changes = _ts(_read(landing, "sfa", "opportunity_history")["changed_at"]) if has_changes else pd.Series([])
        latest = (
            s.max()
            for s in (
                ma["created"],
                mql["at"],
                sfa["created_at"],
                sfa["first_contact_at"],
                sfa["converted_at"],
                sfa["disqualified_at"],
                opp["created_at"],
                opp["closed_at"],
                cust["onboarded"],
                con["churned"],
                changes,
            )
        )
        as_of = max(t for t in latest if pd.notna(t))

    def done(ts: pd.Series) -> pd.Series:
        return ts.notna() & (ts <= as_of)

    # marketing: creation plus each recycle, windows to the next entry, first MQL per window
    recycled = sfa[
        (sfa["status"].str.lower() == "recycled")
        & sfa["disqualified_at"].notna()
        & sfa["ma_lead_id"].isin(ma["lead_id"])
    ]
    entries = pd.concat(
        [
            pd.DataFrame({"lead": ma["lead_id"], "entry_type": "direct", "entered": ma["created"]}),
            pd.DataFrame(
                {"lead": recycled["ma_lead_id"], "entry_type": "recycled", "entered": recycled["disqualified_at"]}
            ),
        ],
        ignore_index=True,
    ).sort_values(["lead", "entered"], kind="stable")
    entries["seq"] = entries.groupby("lead").cumcount() + 1
    entries["next"] = entries.groupby("lead")["entered"].shift(-1)
    entries["key"] = range(len(entries))
    pairs = entries.merge(mql[["lead_id", "at"]], left_on="lead", right_on="lead_id")
    inside = ((pairs["at"] >= pairs["entered"]) | (pairs["seq"] == 1)) & (
        pairs["next"].isna() | (pairs["at"] < pairs["next"])
    )
    first_mql = pairs[inside].groupby("key")["at"].min()
    entries["mql"] = _lookup(entries["key"], first_mql)
    aged = entries["entered"] + pd.Timedelta(days=AGING_DAYS)
    marketing = pd.DataFrame(
        {
            "entry_type": entries["entry_type"],
            "entered_at": entries["entered"],
            "advanced_at": entries["mql"].where(done(entries["mql"])),
            "dropped_at": aged.where(~done(entries["mql"]) & (aged <= as_of)),
        }
    )

    # inside sales: each SFA lead enters at the MQL that synced to it (or its MA lead's latest before it)
    by_sync = mql.dropna(subset=["sfa_lead_id"]).groupby("sfa_lead_id")["at"].min()
    sfa["mql_at"] = _lookup(sfa["lead_id"], by_sync)
    unlinked = sfa[sfa["mql_at"].isna() & sfa["ma_lead_id"].notna()]
    fallback = unlinked.merge(mql[["lead_id", "at"]], left_on="ma_lead_id", right_on="lead_id", suffixes=("", "_mql"))
    fallback = fallback[fallback["at"] <= fallback["created_at"]].groupby("lead_id")["at"].max()
    if len(fallback):
        sfa["mql_at"] = sfa["mql_at"].fillna(_lookup(sfa["lead_id"], fallback))
    from_ma = sfa["ma_lead_id"].notna() | sfa["lead_id"].isin(by_sync.index)
    advanced = done(sfa["converted_at"])
    inside_sales = pd.DataFrame(
        {
            "entry_type": from_ma.map({True: "handover", False: "direct"}),
            "entered_at": sfa["mql_at"].fillna(sfa["created_at"]),
            "advanced_at": sfa["converted_at"].where(advanced),
            "dropped_at": sfa["disqualified_at"].where(~advanced & done(sfa["disqualified_at"])),
            "owner_id": sfa["owner_id"],
            "received_at": sfa["created_at"],
            "first_contact_at": sfa["first_contact_at"].where(done(sfa["first_contact_at"])),
        }
    )

    # field sales: new-business opportunities enter when their lead converted
    nb = opp[opp["type"].str.lower() == "new_business"].copy()
    nb["converted"] = _lookup(nb["lead_id"], sfa.set_index("lead_id")["converted_at"])
    won = _bool(nb["is_won"]) & done(nb["closed_at"])
    lost = _bool(nb["is_closed"]) & ~_bool(nb["is_won"]) & done(nb["closed_at"])
    field_sales = pd.DataFrame(
        {
            "entry_type": nb["lead_id"].notna().map({True: "handover", False: "direct"}),
            "entered_at": nb["converted"].where(nb["lead_id"].notna()).fillna(nb["created_at"]),
            "advanced_at": nb["closed_at"].where(won),
            "dropped_at": nb["closed_at"].where(lost),
            "owner_id": nb["owner_id"],
            "amount": pd.to_numeric(nb["amount"], errors="coerce"),
        }
    )

    # customer success: enters at the win, advances at the first renewal, drops at churn
    win_time = opp[_bool(opp["is_won"])].set_index("opportunity_id")["closed_at"]
    firsts = (
        con[con["renewal_of_contract_id"].isna()].sort_values(["start", "contract_id"]).groupby("account_id").head(1)
    )
    renewals = con[con["renewal_of_contract_id"].notna()].groupby("renewal_of_contract_id")["start"].min()
    firsts = firsts.assign(renewed=_lookup(firsts["contract_id"], renewals).dt.tz_localize(TZ).dt.tz_convert("UTC"))
    per_account = firsts.set_index("account_id")
    renewed = _lookup(cust["account_id"], per_account["renewed"])
    churned = _lookup(cust["account_id"], per_account["churned"])
    customer_success = pd.DataFrame(
        {
            "entry_type": cust["won_opportunity_id"].notna().map({True: "handover", False: "direct"}),
            "entered_at": _lookup(cust["won_opportunity_id"], win_time).fillna(cust["onboarded"]),
            "advanced_at": renewed.where(done(renewed)),
            "dropped_at": churned.where(~done(renewed) & done(churned)),
            "account_id": cust["account_id"],
        }
    )

    stages = {
        "marketing": marketing,
        "inside_sales": inside_sales,
        "field_sales": field_sales,
        "customer_success": customer_success,
    }
    if not with_ma:
        del stages["marketing"]
    return {name: df[df["entered_at"] <= as_of].reset_index(drop=True) for name, df in stages.items()}, as_of


def monthly_kpis(landing: Path, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rows of (view, period_start, stage, base, base_handover, base_direct, goal, dropped)."""
    return kpis_of(*stage_entries(landing, as_of))


def kpis_of(stages: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    """The monthly KPI rows of any stages' entries (stage_entries, or a test's own stage)."""
    first = min(_month(df["entered_at"]).min() for df in stages.values())
    months = pd.period_range(first, _month(pd.Series([as_of])).iloc[0], freq="M")
    rows = []
    for name, df in stages.items():
        entered = _month(df["entered_at"])
        advanced = _month(df["advanced_at"])
        dropped = _month(df["dropped_at"])
        for month in months:
            cohort = entered == month
            base = int(cohort.sum())
            handover = int((cohort & (df["entry_type"] == "handover")).sum())
            common = {
                "period_start": month.to_timestamp().date(),
                "stage": name,
                "base": base,
                "base_handover": handover,
                "base_direct": base - handover,
            }
            rows.append(
                {
                    "view": "period",
                    **common,
                    "goal": int((advanced == month).sum()),
                    "dropped": int((dropped == month).sum()),
                }
            )
            rows.append(
                {
                    "view": "cohort",
                    **common,
                    "goal": int((cohort & df["advanced_at"].notna()).sum()),
                    "dropped": int((cohort & df["dropped_at"].notna()).sum()),
                }
            )
    return pd.DataFrame(rows)
