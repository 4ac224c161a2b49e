-- Survey response rate by clinic and month with Wilson 95% intervals (a session counts as answered when it has a rating).
-- Grain: one row per clinic and month.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from filtered_rows(
        'monthly_outcomes', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

by_clinic_month as (
    select clinic_id, month, cast(sum(sessions) as bigint) as sessions, cast(sum(answered) as bigint) as answered
    from outcomes
    group by clinic_id, month
),

final as (
    select
        clinic_id,
        month,
        sessions,
        answered,
        answered / sessions as response_rate,
        wilson_low(answered, sessions) as response_rate_low,
        wilson_high(answered, sessions) as response_rate_high
    from by_clinic_month
)

select * from final
order by clinic_id, month
