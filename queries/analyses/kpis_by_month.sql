-- Monthly KPIs with patient-clustered 95% intervals, the unanswered surveys' best/worst-case band, and deltas vs the previous month and the same month last year; rates exclude unknowns (unanswered surveys, side effects without follow-up) from their denominators.
-- Grain: one row per month.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from filtered_rows(
        'monthly_outcomes', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

patient_cells as (
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

per_patient as (
    -- A patient's sessions of the month, whatever cells they fall in: the clusters of the intervals.
    select
        month,
        patient_no,
        sum(sessions) as sessions,
        sum(answered) as answered,
        sum(satisfied) as satisfied,
        sum(outcome_known) as outcome_known,
        sum(side_effect_sessions) as side_effect_sessions
    from patient_cells
    group by month, patient_no
),

clusters as (
    select
        month,
        count(*) as patients,
        sum(sessions * sessions) as sessions_ss,
        sum(answered * sessions) as answered_sn,
        sum(answered * answered) as answered_ss,
        count(*) filter (answered > 0) as answering_patients,
        sum(satisfied * satisfied) as satisfied_ss,
        sum(satisfied * answered) as satisfied_sa,
        count(*) filter (outcome_known > 0) as known_patients,
        sum(outcome_known * outcome_known) as known_ss,
        sum(side_effect_sessions * side_effect_sessions) as side_effect_ss,
        sum(side_effect_sessions * outcome_known) as side_effect_sk
    from per_patient
    group by month
),

rates as (
    select
        m.month,
        m.sessions,
        c.patients,
        m.answered,
        m.answered / m.sessions as response_rate,
        cluster_wilson_low(m.answered, m.sessions, c.answered_ss, c.answered_sn, c.sessions_ss, c.patients)
            as response_rate_low,
        cluster_wilson_high(m.answered, m.sessions, c.answered_ss, c.answered_sn, c.sessions_ss, c.patients)
            as response_rate_high,
        m.satisfied,
        m.satisfied / nullif(m.answered, 0) as pct_satisfied,
        cluster_wilson_low(m.satisfied, m.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_low,
        cluster_wilson_high(m.satisfied, m.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_high,
        design_effect(m.satisfied, m.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_design_effect,
        -- Every unanswered survey unhappy (worst) or happy (best): how far the unanswered could move it.
        m.satisfied / m.sessions as pct_satisfied_worst,
        (m.satisfied + m.sessions - m.answered) / m.sessions as pct_satisfied_best,
        m.rating_sum / nullif(m.answered, 0) as mean_rating,
        m.outcome_known,
        m.side_effect_sessions,
        m.side_effect_sessions / nullif(m.outcome_known, 0) as side_effect_rate,
        cluster_wilson_low(m.side_effect_sessions, m.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_low,
        cluster_wilson_high(m.side_effect_sessions, m.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_high,
        design_effect(m.side_effect_sessions, m.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_design_effect
    from monthly as m
    inner join clusters as c on c.month = m.month
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
