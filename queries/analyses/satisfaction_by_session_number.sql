-- Share of answered surveys rating 4-5 by session number, with Wilson 95% intervals (unanswered surveys excluded).
-- Grain: one row per session number.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from session_number_outcomes
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
    where ($date_from is null or month >= date_trunc('month', cast($date_from as date)))
        and ($date_to is null or month <= cast($date_to as date))
        and ($clinic_id is null or clinic_id = $clinic_id)
        and ($clinician_id is null or clinician_id = $clinician_id)
        and ($crystal_type is null or crystal_type = $crystal_type)
        and ($treatment_area is null or treatment_area = $treatment_area)
        and ($indication is null or indication = $indication)
        and ($fitzpatrick is null or fitzpatrick = $fitzpatrick)
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
