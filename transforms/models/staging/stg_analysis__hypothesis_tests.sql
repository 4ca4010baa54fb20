with source as (
    select * from {{ source('analysis', 'hypothesis_tests') }}
)

select * from source
