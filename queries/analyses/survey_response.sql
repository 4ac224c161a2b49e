-- Survey response rate by clinic and month with patient-clustered 95% intervals (a session counts as answered when it has a rating).
-- Grain: one row per clinic and month.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with patient_cells as (
    select * from filtered_rows(
        'patient_months', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

per_patient as (
    select clinic_id, month, patient_no, sum(sessions) as sessions, sum(answered) as answered
    from patient_cells
    group by clinic_id, month, patient_no
),

by_clinic_month as (
    select
        clinic_id,
        month,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(answered) as bigint) as answered,
        count(*) as patients,
        sum(answered * answered) as answered_ss,
        sum(answered * sessions) as answered_sn,
        sum(sessions * sessions) as sessions_ss
    from per_patient
    group by clinic_id, month
),

final as (
    select
        clinic_id,
        month,
        sessions,
        answered,
        answered / sessions as response_rate,
        cluster_wilson_low(answered, sessions, answered_ss, answered_sn, sessions_ss, patients) as response_rate_low,
        cluster_wilson_high(answered, sessions, answered_ss, answered_sn, sessions_ss, patients) as response_rate_high
    from by_clinic_month
)

select * from final
order by clinic_id, month
