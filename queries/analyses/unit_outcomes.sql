-- Crude (not risk-adjusted) outcomes per clinic or per clinician ($grain) with Wilson 95% intervals, in alphabetical order (not a ranking); for fair comparison use the funnel plot of the models.
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

counted_patients as (
    select * from filtered_rows(
        'patient_months', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

stored_patients as (
    -- Over all months and cells the counts are read from unit_patients (a clinic's row holds every
    -- patient of the clinic, so a clinician filter on the clinic grain recounts instead).
    select * from unit_patients
    where (clinician_id is not null) = (select by_clinician from grain)
        and ($clinic_id is null or clinic_id = $clinic_id)
        and ($clinician_id is null or clinician_id = $clinician_id)
),

read_or_recount as (
    select
        $date_from is null and $date_to is null and $crystal_type is null and $treatment_area is null
        and $indication is null and $fitzpatrick is null
        and ((select by_clinician from grain) or $clinician_id is null)
            as read_stored
),

patients as (
    select clinic_id, clinician_id, patients from stored_patients
    where (select read_stored from read_or_recount)
    union all
    select
        clinic_id,
        case when (select by_clinician from grain) then clinician_id end as clinician_id,
        count(distinct patient_no) as patients
    from counted_patients
    where not (select read_stored from read_or_recount)
    group by all
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
    inner join patients as p
        on p.clinic_id = u.clinic_id and p.clinician_id is not distinct from u.clinician_id
)

select * from final
order by clinic_id, clinician_id
