-- Monthly KPIs with Wilson 95% intervals and deltas vs the previous month and the same month last year; rates exclude unknowns (unanswered surveys, side effects without follow-up) from their denominators.
-- Grain: one row per month.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from filtered_rows(
        'monthly_outcomes', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

patient_months_filtered as (
    select * from filtered_rows(
        'patient_months', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

monthly as (
    select
        month,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(answered) as bigint) as answered,
        cast(sum(satisfied) as bigint) as satisfied,
        sum(rating_sum) as rating_sum,
        cast(sum(outcome_known) as bigint) as outcome_known,
        cast(sum(side_effect_sessions) as bigint) as side_effect_sessions
    from outcomes
    group by month
),

unfiltered_patients as (
    select month, patients from monthly_patients
    where ($date_from is null or month >= date_trunc('month', cast($date_from as date)))
        and ($date_to is null or month <= cast($date_to as date))
),

patients as (
    -- Without a dimension filter the network figure is read, not recounted; both are exact.
    select month, patients from unfiltered_patients
    where $clinic_id is null and $clinician_id is null and $crystal_type is null and $treatment_area is null
        and $indication is null and $fitzpatrick is null
    union all
    select month, count(distinct patient_no) as patients from patient_months_filtered
    where not ($clinic_id is null and $clinician_id is null and $crystal_type is null and $treatment_area is null
        and $indication is null and $fitzpatrick is null)
    group by month
),

rates as (
    select
        m.month,
        m.sessions,
        p.patients,
        m.answered,
        m.answered / m.sessions as response_rate,
        m.satisfied,
        m.satisfied / nullif(m.answered, 0) as pct_satisfied,
        wilson_low(m.satisfied, m.answered) as pct_satisfied_low,
        wilson_high(m.satisfied, m.answered) as pct_satisfied_high,
        m.rating_sum / nullif(m.answered, 0) as mean_rating,
        m.outcome_known,
        m.side_effect_sessions,
        m.side_effect_sessions / nullif(m.outcome_known, 0) as side_effect_rate,
        wilson_low(m.side_effect_sessions, m.outcome_known) as side_effect_rate_low,
        wilson_high(m.side_effect_sessions, m.outcome_known) as side_effect_rate_high
    from monthly as m
    inner join patients as p on p.month = m.month
),

final as (
    select
        r.*,
        r.sessions - prev.sessions as sessions_delta_prev,
        r.patients - prev.patients as patients_delta_prev,
        r.response_rate - prev.response_rate as response_rate_delta_prev,
        r.pct_satisfied - prev.pct_satisfied as pct_satisfied_delta_prev,
        r.side_effect_rate - prev.side_effect_rate as side_effect_rate_delta_prev,
        r.sessions - ly.sessions as sessions_delta_year,
        r.patients - ly.patients as patients_delta_year,
        r.response_rate - ly.response_rate as response_rate_delta_year,
        r.pct_satisfied - ly.pct_satisfied as pct_satisfied_delta_year,
        r.side_effect_rate - ly.side_effect_rate as side_effect_rate_delta_year
    from rates as r
    left join rates as prev on prev.month = r.month - interval 1 month
    left join rates as ly on ly.month = r.month - interval 12 month
)

select * from final
order by month
