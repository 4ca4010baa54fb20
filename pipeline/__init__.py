"""THE MODEL funnel pipeline: MA, SFA and CRM extracts -> DuckDB -> stage tables and KPI marts."""

import warnings

# With the spark extra installed (docs/scale.md), Great Expectations imports pyspark, which warns on every import
# that it does not fully support pandas 3. The pipeline's processes use no pyspark (dbt-spark runs it in dbt's own
# process), so the warning would only put a line of noise on an operator's stderr.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
