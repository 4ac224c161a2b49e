-- Crude (not risk-adjusted) outcomes per clinic or per clinician ($grain) with patient-clustered 95% intervals, in alphabetical order (not a ranking); for fair comparison use the funnel plot of the models.
-- Grain: one row per clinic ($grain clinic, the default; clinician_id is null) or per clinic and clinician ($grain clinician).
-- Params: $grain (text, optional, one of clinic|clinician), $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with grain as (
    select coalesce($grain, 'clinic') = 'clinician' as by_clinician
),

outcomes as (
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

by_unit as (
    select
        clinic_id,
        case when (select by_clinician from grain) then clinician_id end as clinician_id,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(outcome_known) as bigint) as outcome_known,
        cast(sum(side_effect_sessions) as bigint) as side_effect_sessions,
        cast(sum(answered) as bigint) as answered,
        cast(sum(satisfied) as bigint) as satisfied,
        sum(vacuum_kpa_sum) / sum(sessions) as mean_vacuum_kpa,
        sum(passes_sum) / sum(sessions) as mean_passes,
        sum(pre_care_skipped) / sum(sessions) as share_pre_care_skipped
    from outcomes
    group by all
),

per_patient as (
    -- A patient's sessions with the unit over the chosen months: the clusters of the intervals.
    select
        clinic_id,
        case when (select by_clinician from grain) then clinician_id end as clinician_id,
        patient_no,
        sum(answered) as answered,
        sum(satisfied) as satisfied,
        sum(outcome_known) as outcome_known,
        sum(side_effect_sessions) as side_effect_sessions
    from patient_cells
    group by all
),

clusters as (
    select
        clinic_id,
        clinician_id,
        count(*) as patients,
        count(*) filter (answered > 0) as answering_patients,
        sum(answered * answered) as answered_ss,
        sum(satisfied * satisfied) as satisfied_ss,
        sum(satisfied * answered) as satisfied_sa,
        count(*) filter (outcome_known > 0) as known_patients,
        sum(outcome_known * outcome_known) as known_ss,
        sum(side_effect_sessions * side_effect_sessions) as side_effect_ss,
        sum(side_effect_sessions * outcome_known) as side_effect_sk
    from per_patient
    group by all
),

final as (
    select
        u.*,
        c.patients,
        u.side_effect_sessions / nullif(u.outcome_known, 0) as side_effect_rate,
        cluster_wilson_low(u.side_effect_sessions, u.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_low,
        cluster_wilson_high(u.side_effect_sessions, u.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_high,
        u.satisfied / nullif(u.answered, 0) as pct_satisfied,
        cluster_wilson_low(u.satisfied, u.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_low,
        cluster_wilson_high(u.satisfied, u.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_high
    from by_unit as u
    inner join clusters as c
        on c.clinic_id = u.clinic_id and c.clinician_id is not distinct from u.clinician_id
)

select * from final
order by clinic_id, clinician_id
