-- Crude (not risk-adjusted) outcomes per clinic with Wilson 95% intervals, in alphabetical order (not a ranking); for fair comparison use the funnel plot of the models.
-- Grain: one row per clinic.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from monthly_outcomes
    where ($date_from is null or month >= date_trunc('month', cast($date_from as date)))
        and ($date_to is null or month <= cast($date_to as date))
        and ($clinic_id is null or clinic_id = $clinic_id)
        and ($clinician_id is null or clinician_id = $clinician_id)
        and ($crystal_type is null or crystal_type = $crystal_type)
        and ($treatment_area is null or treatment_area = $treatment_area)
        and ($indication is null or indication = $indication)
        and ($fitzpatrick is null or fitzpatrick = $fitzpatrick)
),

patients as (
    -- Over all months and cells the counts are read from unit_patients; any other filter recounts.
    select clinic_id, patients from unit_patients
    where clinician_id is null
        and $date_from is null and $date_to is null and $crystal_type is null and $treatment_area is null
        and $indication is null and $fitzpatrick is null and $clinician_id is null
        and ($clinic_id is null or clinic_id = $clinic_id)
    union all
    select clinic_id, count(distinct patient_no) as patients
    from patient_months
    where ($date_from is null or month >= date_trunc('month', cast($date_from as date)))
        and ($date_to is null or month <= cast($date_to as date))
        and ($clinic_id is null or clinic_id = $clinic_id)
        and ($clinician_id is null or clinician_id = $clinician_id)
        and ($crystal_type is null or crystal_type = $crystal_type)
        and ($treatment_area is null or treatment_area = $treatment_area)
        and ($indication is null or indication = $indication)
        and ($fitzpatrick is null or fitzpatrick = $fitzpatrick)
        and not ($date_from is null and $date_to is null and $crystal_type is null and $treatment_area is null
        and $indication is null and $fitzpatrick is null and $clinician_id is null)
    group by all
),

by_unit as (
    select
        clinic_id,
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

final as (
    select
        u.*,
        p.patients,
        u.side_effect_sessions / nullif(u.outcome_known, 0) as side_effect_rate,
        wilson_low(u.side_effect_sessions, u.outcome_known) as side_effect_rate_low,
        wilson_high(u.side_effect_sessions, u.outcome_known) as side_effect_rate_high,
        u.satisfied / nullif(u.answered, 0) as pct_satisfied,
        wilson_low(u.satisfied, u.answered) as pct_satisfied_low,
        wilson_high(u.satisfied, u.answered) as pct_satisfied_high
    from by_unit as u
    inner join patients as p using (clinic_id)
)

select * from final
order by clinic_id
