-- Which patients were treated in which month and cell, so distinct patient counts stay exact under any filter.
-- Grain: one row per patient, month, clinician_id, crystal_type, treatment_area, indication, fitzpatrick.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select distinct
        clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick,
        hash(patient_key) as patient_no
    from sessions_staged
)

select * from final
order by clinic_id, month
