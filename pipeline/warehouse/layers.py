"""The schemas Python writes, one per kind of data, each named for what it holds (docs/data-model.md, "Layers").

dbt owns `staging`, `history` (appended, never rebuilt), `intermediate`, `stages`, `analysis` (Python models) and
`marts` (transforms/dbt_project.yml) and never writes these; the dbt sources of
transforms/models/staging/_sources.yml read them.
"""

#: Every row of every extract file loaded, typed per the input contract, with the load log and quarantine.
EXTRACTED = "extracted"
#: Tables the pipeline derives from configuration: targets, the business calendar, reconciliation rules.
REFERENCE = "reference"
#: The record of alerts raised and delivered.
ALERTING = "alerting"
#: Hashes of the people erased on request (pipeline/privacy): their data is emptied again at every load.
PRIVACY = "privacy"
