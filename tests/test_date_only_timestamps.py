"""A date alone in a timestamp column (a churn dated 2023-11-01) is that calendar day in the reporting time zone, end
to end: from the extract through raw to the customer-success marts, whatever the source zone."""

import pandas as pd
import pytest

from tests.conftest import materialize

FILES = {
    "ma/leads.csv": "lead_id,email,company,created_at,source,campaign_id\n"
    "L1,a@example.jp,A,2023-03-01 10:00:00,web_form,C1\n",
    "ma/mql_events.csv": "lead_id,mql_at,score,sfa_lead_id\nL1,2023-03-02 10:00:00,80,S1\n",
    "sfa/leads.csv": "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,"
    "converted_opportunity_id,disqualified_at,disqualified_reason\n"
    "S1,L1,2023-03-02 11:00:00,U1,converted,2023-03-02 12:00:00,2023-03-05 10:00:00,O1,,\n",
    "sfa/opportunities.csv": "opportunity_id,lead_id,account_id,owner_id,type,created_at,stage_name,is_closed,is_won,"
    "closed_at,amount,currency,lost_reason\n"
    "O1,S1,A1,U2,new_business,2023-03-05 10:05:00,Closed Won,true,true,2023-03-20 10:00:00,"
    "1200000,JPY,\n",
    "crm/customers.csv": "account_id,won_opportunity_id,onboarded_at,segment,industry\n"
    "A1,O1,2023-03-25 10:00:00,smb,it\n",
    "crm/contracts.csv": "contract_id,account_id,start_date,end_date,mrr,renewal_of_contract_id,churned_at,churn_reason\n"
    "K1,A1,2023-04-01,2024-03-31,100000,,2023-11-01,price\n",
}


@pytest.mark.parametrize(
    "source_tz, reporting_tz, churned_utc",
    [
        ("UTC", "Asia/Tokyo", "2023-10-31 15:00"),  # source-zone midnight would be 09:00 in Tokyo
        ("Asia/Tokyo", "UTC", "2023-11-01 00:00"),  # source-zone midnight would be October 31 in UTC: a month early
    ],
)
def test_a_churn_dated_november_first_leaves_the_mrr_in_november(tmp_path, source_tz, reporting_tz, churned_utc):
    landing = tmp_path / "landing"
    for name, text in FILES.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text(text, encoding="utf-8")
    run = materialize(
        landing, tmp_path / "funnel.duckdb", source_tz=source_tz, reporting_tz=reporting_tz, as_of="2023-12-31"
    )
    assert run.result.success

    churned = run.query(
        "select strftime(timezone('UTC', churned_at), '%Y-%m-%d %H:%M') as t from staging.stg_crm__contracts"
    )
    assert churned["t"].tolist() == [churned_utc]
    months = run.query(
        "select period_start, start_mrr, end_mrr, churned_customers, churned_mrr "
        "from marts.customer_success_monthly where segment = 'all' order by period_start"
    )
    months = months.set_index(pd.to_datetime(months["period_start"]).dt.strftime("%Y-%m"))
    assert months["churned_customers"].to_dict() == {m: int(m == "2023-11") for m in months.index}
    assert float(months.loc["2023-10", "end_mrr"]) == float(months.loc["2023-11", "churned_mrr"]) == 100000
    dropped = run.query(
        "select strftime(entered_month, '%Y-%m') as entered, outcome, "
        "strftime(timezone(?, dropped_at), '%Y-%m-%d %H:%M') as dropped "
        "from stages.customer_success_entries",
        [reporting_tz],
    )
    assert dropped.values.tolist() == [["2023-03", "dropped", "2023-11-01 00:00"]]
