-- Share of answered surveys rating 4-5 by session number, with Wilson 95% intervals (unanswered surveys excluded).
-- Grain: one row per session number.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from filtered_rows(
        'session_number_outcomes', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

by_number as (
    select
        session_number,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(answered) as bigint) as answered,
        cast(sum(satisfied) as bigint) as satisfied,
        sum(rating_sum) as rating_sum,
        cast(sum(outcome_known) as bigint) as outcome_known,
        cast(sum(side_effect_sessions) as bigint) as side_effect_sessions
    from outcomes
    group by session_number
),

final as (
    select
        session_number,
        sessions,
        answered,
        satisfied,
        satisfied / nullif(answered, 0) as pct_satisfied,
        wilson_low(satisfied, answered) as pct_satisfied_low,
        wilson_high(satisfied, answered) as pct_satisfied_high,
        rating_sum / nullif(answered, 0) as mean_rating,
        outcome_known,
        side_effect_sessions,
        side_effect_sessions / nullif(outcome_known, 0) as side_effect_rate
    from by_number
)

select * from final
order by session_number
