-- Which clinics' rows each loaded file holds (stored or quarantined): how access scoping attributes files to clinics.
-- Grain: one row per file name and clinic.
-- Params: none
with stored as (
    select distinct source_file as file, clinic_id from sessions
),

quarantined as (
    select distinct file, clinic_id from quarantine
    where clinic_id is not null
),

final as (
    select file, clinic_id from stored
    union
    select file, clinic_id from quarantined
)

select * from final
order by file, clinic_id
