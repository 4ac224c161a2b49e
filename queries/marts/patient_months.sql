-- Each patient's sessions and outcomes per month and cell: exact distinct patients and patient-clustered intervals under any filter.
-- Grain: one row per patient, month, clinician_id, crystal_type, treatment_area, indication, fitzpatrick.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select
        clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick,
        patient_number(patient_key) as patient_no,
        count(*) as sessions,
        count(*) filter (answered) as answered,
        count(*) filter (satisfied) as satisfied,
        count(*) filter (outcome_known) as outcome_known,
        count(*) filter (had_side_effect) as side_effect_sessions
    from sessions_staged
    group by all
)

select * from final
order by clinic_id, month
