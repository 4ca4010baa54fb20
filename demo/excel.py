"""Demo extracts re-exported the way a Japanese office's Excel writes them: the example of docs/sources.md.

    python -m demo.excel --landing data/landing --out data/excel

CP932 (Shift_JIS), Japanese file and column names, `2024年4月1日 09:05:03` timestamps, contract dates as Excel
serial numbers, `￥1,200,000` amounts (full-width yen, as CP932 has no other), はい/いいえ flags and Japanese status and type names;
a spend sheet by month (`2025年12月`), a team list with Japanese role names and the opportunities' phase history
(フェーズ履歴). The canonical extracts are loaded with the canonical layout first, so the re-export holds exactly the same records; loading
it back through docs/examples/excel_ja.yml must give the same warehouse, which the tests and `make bench` use.
"""

import argparse
import codecs
import tempfile
from pathlib import Path

import duckdb

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import landing_layout
from pipeline.ingest.sources.reader import CHUNK
from pipeline.ingest.sources.values import lit

TZ = "Asia/Tokyo"
STATUS = {
    "open": "未対応",
    "working": "対応中",
    "converted": "商談化",
    "disqualified": "失格",
    "recycled": "ナーチャリング",
}
TYPE = {"new_business": "新規", "upsell": "アップセル", "cross_sell": "クロスセル", "renewal": "更新"}
COST_TYPE = {"marketing": "マーケティング", "sales": "営業"}
ROLE = {
    "inside_sales": "インサイドセールス",
    "field_sales": "フィールドセールス",
    "customer_success": "カスタマーサクセス",
    "sales_manager": "営業マネージャー",
}


def _ts(column: str) -> str:
    return f"strftime(timezone({lit(TZ)}, {column}), '%Y年%-m月%-d日 %H:%M:%S')"


def _yen(column: str) -> str:
    return (
        f"CASE WHEN {column} = trunc({column}) THEN '￥' || format('{{:,}}', {column}::BIGINT) "
        f"ELSE '￥' || format('{{:,.2f}}', {column}) END"
    )


def _flag(column: str) -> str:
    return f"CASE WHEN {column} THEN 'はい' WHEN NOT {column} THEN 'いいえ' END"


def _case(column: str, names: dict[str, str]) -> str:
    return (
        "CASE "
        + column
        + " "
        + " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in names.items())
        + f" ELSE {column} END"
    )


#: file name -> (table, [(Japanese column, SQL over extracted.<table>)])
EXPORTS = {
    "MAリード.csv": (
        "ma_leads",
        [
            ("リードID", "lead_id"),
            ("メールアドレス", "email"),
            ("会社名", "company"),
            ("作成日時", _ts("created_at")),
            ("流入経路", "source"),
            ("キャンペーンID", "campaign_id"),
        ],
    ),
    "MQL履歴.csv": (
        "ma_mql_events",
        [("リードID", "lead_id"), ("MQL日時", _ts("mql_at")), ("スコア", "score"), ("SFAリードID", "sfa_lead_id")],
    ),
    "SFAリード.csv": (
        "sfa_leads",
        [
            ("リードID", "lead_id"),
            ("MAリードID", "ma_lead_id"),
            ("作成日時", _ts("created_at")),
            ("所有者ID", "owner_id"),
            ("状況", _case("status", STATUS)),
            ("初回接触日時", _ts("first_contact_at")),
            ("商談化日時", _ts("converted_at")),
            ("商談ID", "converted_opportunity_id"),
            ("失格日時", _ts("disqualified_at")),
            ("失格理由", "disqualified_reason"),
        ],
    ),
    "商談.csv": (
        "sfa_opportunities",
        [
            ("商談ID", "opportunity_id"),
            ("リードID", "lead_id"),
            ("取引先ID", "account_id"),
            ("所有者ID", "owner_id"),
            ("種別", _case("type", TYPE)),
            ("作成日時", _ts("created_at")),
            ("フェーズ", "stage_name"),
            ("完了", _flag("is_closed")),
            ("受注", _flag("is_won")),
            ("完了日時", _ts("closed_at")),
            ("金額", _yen("amount")),
            ("通貨", "currency"),
            ("失注理由", "lost_reason"),
            ("完了予定日", "strftime(close_date, '%Y/%-m/%-d')"),
            ("確度", "probability"),
            ("売上予測分類", "forecast_category"),
        ],
    ),
    # the phase history report (フェーズ履歴): one row per change of an opportunity
    "フェーズ履歴.csv": (
        "sfa_opportunity_history",
        [
            ("商談ID", "opportunity_id"),
            ("変更日時", _ts("changed_at")),
            ("フェーズ", "stage_name"),
            ("金額", _yen("amount")),
            ("通貨", "currency"),
            ("完了予定日", "strftime(close_date, '%Y/%-m/%-d')"),
            ("確度", "probability"),
            ("売上予測分類", "forecast_category"),
        ],
    ),
    "顧客.csv": (
        "crm_customers",
        [
            ("取引先ID", "account_id"),
            ("受注商談ID", "won_opportunity_id"),
            ("オンボーディング日時", _ts("onboarded_at")),
            ("セグメント", "segment"),
            ("業種", "industry"),
            ("担当CSM", "owner_id"),
        ],
    ),
    "契約.csv": (
        "crm_contracts",
        [
            ("契約ID", "contract_id"),
            ("取引先ID", "account_id"),
            ("開始日", "start_date - DATE '1899-12-30'"),
            ("終了日", "strftime(end_date, '%Y/%-m/%-d')"),
            ("月額", _yen("mrr")),
            ("更新元契約ID", "renewal_of_contract_id"),
            ("解約日時", _ts("churned_at")),
            ("解約理由", "churn_reason"),
        ],
    ),
    # a spend sheet kept by month (`2025年12月`, no day) and a team list, as marketing and sales ops keep them
    "費用.csv": (
        "ma_spend",
        [
            ("月", "strftime(month, '%Y年%-m月')"),
            ("費用区分", _case("cost_type", COST_TYPE)),
            ("チャネル", "source"),
            ("キャンペーンID", "campaign_id"),
            ("金額", _yen("amount")),
            ("通貨", "currency"),
        ],
    ),
    "チーム.csv": (
        "sfa_users",
        [
            ("ユーザーID", "user_id"),
            ("氏名", "name"),
            ("役割", _case("role", ROLE)),
            ("チーム", "team"),
            ("着任日", "strftime(started_on, '%Y/%-m/%-d')"),
            ("離任日", "strftime(ended_on, '%Y/%-m/%-d')"),
        ],
    ),
}


def export(landing: Path, out: Path, source_tz: str = TZ, encoding: str = "cp932") -> dict[str, int]:
    """Write the Excel-style files for the canonical extracts in `landing` to `out`; rows per file."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="funnel-excel-") as work:
        for name, (table, columns) in EXPORTS.items():
            load_entity(con, ENTITIES_BY_TABLE[table], [landing_layout(landing)], landing, source_tz, TZ)
            utf8 = Path(work) / "export.csv"
            select = ", ".join(f'{sql} AS "{column}"' for column, sql in columns)
            con.execute(
                f"COPY (SELECT {select} FROM extracted.{table} ORDER BY _source_file, _source_row) "
                f"TO {lit(str(utf8))} (HEADER, DELIMITER ',')"
            )
            _transcode(utf8, out / name, encoding)
            written[name] = con.execute(f"SELECT count(*) FROM extracted.{table}").fetchall()[0][0]
    return written


def _transcode(source: Path, target: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(source, "rb") as src, open(target, "w", encoding=encoding, newline="") as dst:
        while chunk := src.read(CHUNK):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", type=Path, required=True, help="folder with canonical extracts")
    parser.add_argument("--out", type=Path, required=True, help="folder the Excel-style files are written to")
    args = parser.parse_args(argv)
    for name, rows in export(args.landing, args.out).items():
        print(f"{args.out / name}: {rows:,} rows")


if __name__ == "__main__":
    main()
