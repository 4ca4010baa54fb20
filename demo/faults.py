"""Fault injection for the demo extracts: the sync failures reconciliation must find, at chosen rates.

Each fault class breaks a chosen share of the records of one or more hand-overs, and every broken record
is listed in a manifest (handoff, reason, upstream_id, downstream_id) so tests can check that
marts.reconciliation_exceptions finds exactly these records. Records are picked evenly along time
(every 1/rate-th hand-over, starting half a step in), never within 60 days of the end of the history,
and each record is broken by at most one fault, so the faults neither overlap nor change the as-of date.
"""

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import pyarrow as pa

MA_TIME = "%Y-%m-%dT%H:%M:%S+09:00"
SFA_TIME = "%Y/%m/%d %H:%M:%S"
MARGIN = pd.Timedelta(days=60)
MKT, IS_FS, FS_CS = "marketing_to_inside_sales", "inside_sales_to_field_sales", "field_sales_to_customer_success"


@dataclass(frozen=True)
class FaultRates:
    """Share of the eligible hand-overs to break, per fault class (0 = none)."""

    not_synced: float = 0.0  # an MQL never reaches the SFA
    duplicate_lead: float = 0.0  # the SFA holds a second lead for one MQL
    no_opportunity: float = 0.0  # a converted lead has no opportunity
    not_onboarded: float = 0.0  # a won deal never becomes a CRM customer
    out_of_order: float = 0.0  # the receiving system's record predates the hand-over (each hand-over)
    late_sync: float = 0.0  # the receiving system's record arrives after the grace period (each hand-over)

    def any(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


def _pick(candidates: pd.DataFrame, time_column: str, rate: float, used: set, key: str) -> pd.DataFrame:
    """Every (1/rate)-th candidate in time order, starting half a step in, skipping already used keys."""
    if rate <= 0:
        return candidates.iloc[0:0]
    pool = candidates[~candidates[key].isin(used)].sort_values([time_column, key], kind="stable")
    step = 1.0 / rate
    positions = np.arange(step / 2, len(pool), step).astype(int)
    picked = pool.iloc[positions]
    used.update(picked[key])
    return picked


def _parse(values: pd.Series, layout: str) -> pd.Series:
    return pd.to_datetime(values, format=layout)


def inject(tables: dict, rates: FaultRates, end: pd.Timestamp) -> tuple[dict, pd.DataFrame]:
    """Break records in the chunk's tables (pyarrow) as `rates` say; return new tables and the manifest."""
    mql = tables["mql_events"].to_pandas()
    sfa = tables["sfa_leads"].to_pandas()
    opp = tables["opportunities"].to_pandas()
    cust = tables["customers"].to_pandas()
    contracts = tables["contracts"].to_pandas()
    latest = end - MARGIN

    mql["at"] = _parse(mql["mql_at"], MA_TIME)
    mql["seq"] = mql.groupby("lead_id")["at"].rank(method="first").astype(int)
    mql["mql_event_id"] = mql["lead_id"] + "#" + mql["seq"].astype(str)
    sfa["created"] = _parse(sfa["created_at"], SFA_TIME)
    sfa["converted"] = _parse(sfa["converted_at"], SFA_TIME)
    sfa = sfa.merge(
        mql[["sfa_lead_id", "at", "mql_event_id"]].rename(columns={"sfa_lead_id": "lead_id"}), on="lead_id", how="left"
    )
    opp["created"] = _parse(opp["created_at"], SFA_TIME)
    opp["closed"] = _parse(opp["closed_at"], SFA_TIME)
    opp = opp.merge(sfa[["lead_id", "converted"]], on="lead_id", how="left")
    cust["onboarded"] = _parse(cust["onboarded_at"], SFA_TIME)
    cust = cust.merge(
        opp[["opportunity_id", "closed"]].rename(columns={"opportunity_id": "won_opportunity_id"}),
        on="won_opportunity_id",
        how="left",
    )

    used_leads: set = set()
    used_opps: set = set()
    used_accounts: set = set()
    manifest: list[dict] = []

    def record(fault: str, handoff: str, reason: str, upstream: pd.Series, downstream: pd.Series | None) -> None:
        for i, up in enumerate(upstream):
            manifest.append(
                {
                    "fault": fault,
                    "handoff": handoff,
                    "reason": reason,
                    "upstream_id": up,
                    "downstream_id": None if downstream is None else downstream.iloc[i],
                }
            )

    quiet_leads = sfa[sfa["status"].isin(["open", "working", "disqualified"]) & (sfa["at"] <= latest)]
    lead_opps = opp[(opp["type"] == "new_business") & opp["lead_id"].notna()]
    onboarded = cust[cust["closed"].notna() & (cust["closed"] <= latest)]

    # an MQL that never reached the SFA: the SFA lead is gone and the MA holds no sync id
    lost = _pick(quiet_leads, "at", rates.not_synced, used_leads, "lead_id")
    record("not_synced", MKT, "not_synced", lost["mql_event_id"], None)
    mql.loc[mql["sfa_lead_id"].isin(lost["lead_id"]), "sfa_lead_id"] = None
    # a second SFA lead for the same MQL, created minutes after the first
    doubled = _pick(quiet_leads, "at", rates.duplicate_lead, used_leads, "lead_id").copy()
    copies = doubled.assign(
        lead_id=doubled["lead_id"].str.replace("00Q", "00X", n=1),
        created_at=(doubled["created"] + pd.Timedelta(minutes=5)).dt.strftime(SFA_TIME),
        status="open",
        first_contact_at=None,
        converted_at=None,
        converted_opportunity_id=None,
        disqualified_at=None,
        disqualified_reason=None,
    )
    record("duplicate_lead", MKT, "duplicate", doubled["mql_event_id"], copies["lead_id"])
    # a converted lead whose opportunity is missing (only deals that were not won, so nothing further breaks)
    unwon = lead_opps[~lead_opps["is_won"] & (lead_opps["converted"] <= latest)]
    dropped_opps = _pick(unwon, "converted", rates.no_opportunity, used_opps, "opportunity_id")
    used_leads.update(dropped_opps["lead_id"])
    record("no_opportunity", IS_FS, "not_synced", dropped_opps["lead_id"], None)
    # a won deal that never became a customer
    gone = _pick(onboarded, "closed", rates.not_onboarded, used_accounts, "account_id")
    record("not_onboarded", FS_CS, "not_synced", gone["won_opportunity_id"], None)

    # the receiving record stamped before (out_of_order) or long after (late_sync) the hand-over
    for fault, rate, shifts in (
        ("out_of_order", rates.out_of_order, (-pd.Timedelta(hours=2), -pd.Timedelta(days=1), -pd.Timedelta(days=1))),
        ("late_sync", rates.late_sync, (pd.Timedelta(days=3), pd.Timedelta(days=3), pd.Timedelta(days=45))),
    ):
        reason = "time_out_of_order" if fault == "out_of_order" else "late_sync"
        leads = _pick(sfa[sfa["at"].notna() & (sfa["at"] <= latest)], "at", rate, used_leads, "lead_id")
        moved = sfa["lead_id"].isin(leads["lead_id"])
        sfa.loc[moved, "created"] = sfa.loc[moved, "at"] + shifts[0]
        record(fault, MKT, reason, leads["mql_event_id"], leads["lead_id"])
        opps = _pick(lead_opps[lead_opps["converted"] <= latest], "converted", rate, used_opps, "opportunity_id")
        moved = opp["opportunity_id"].isin(opps["opportunity_id"])
        opp.loc[moved, "created"] = opp.loc[moved, "converted"] + shifts[1]
        record(fault, IS_FS, reason, opps["lead_id"], opps["opportunity_id"])
        accounts = _pick(onboarded, "closed", rate, used_accounts, "account_id")
        moved = cust["account_id"].isin(accounts["account_id"])
        cust.loc[moved, "onboarded"] = cust.loc[moved, "closed"] + shifts[2]
        record(fault, FS_CS, reason, accounts["won_opportunity_id"], accounts["account_id"])

    sfa["created_at"] = sfa["created"].dt.strftime(SFA_TIME)
    sfa = pd.concat([sfa[~sfa["lead_id"].isin(lost["lead_id"])], copies], ignore_index=True)
    opp["created_at"] = opp["created"].dt.strftime(SFA_TIME)
    opp = opp[~opp["opportunity_id"].isin(dropped_opps["opportunity_id"])]
    cust["onboarded_at"] = cust["onboarded"].dt.strftime(SFA_TIME)
    cust = cust[~cust["account_id"].isin(gone["account_id"])]
    contracts = contracts[~contracts["account_id"].isin(gone["account_id"])]

    def back(df: pd.DataFrame, like: pa.Table) -> pa.Table:
        return pa.Table.from_pandas(df[like.column_names], schema=like.schema, preserve_index=False)

    out = dict(tables)
    out["mql_events"] = back(mql, tables["mql_events"])
    out["sfa_leads"] = back(sfa, tables["sfa_leads"])
    out["opportunities"] = back(opp, tables["opportunities"])
    out["customers"] = back(cust, tables["customers"])
    out["contracts"] = back(contracts, tables["contracts"])
    return out, pd.DataFrame(manifest, columns=["fault", "handoff", "reason", "upstream_id", "downstream_id"])
