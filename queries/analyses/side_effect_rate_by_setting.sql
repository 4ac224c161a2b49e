-- Side-effect rate by one setting ($setting: vacuum_band, passes, flow_band or crystal_type) with patient-clustered 95% intervals; sessions without follow-up excluded.
-- Grain: one row per level of the chosen setting.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional), $setting (text, one of vacuum_band|passes|flow_band|crystal_type)
with bands as (
    select * from filtered_rows(
        'settings_bands', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

levels as (
    select
        case $setting
            when 'vacuum_band' then vacuum_band
            when 'passes' then cast(passes as varchar) || ' passes'
            when 'flow_band' then flow_band
            when 'crystal_type' then crystal_type
            else error('setting must be one of vacuum_band, passes, flow_band, crystal_type')
        end as level,
        case $setting
            when 'vacuum_band' then vacuum_band_low
            when 'passes' then passes
            when 'flow_band' then flow_band_low
            else null
        end as level_order,
        *
    from bands
),

per_patient as (
    -- A patient's sessions at the level (the clusters of the intervals).
    select
        level,
        patient_no,
        sum(outcome_known) as outcome_known,
        sum(side_effect_sessions) as side_effect_sessions,
        sum(answered) as answered,
        sum(satisfied) as satisfied
    from levels
    where level is not null
    group by level, patient_no
),

clusters as (
    select
        level,
        count(*) filter (outcome_known > 0) as known_patients,
        sum(outcome_known * outcome_known) as known_ss,
        sum(side_effect_sessions * side_effect_sessions) as side_effect_ss,
        sum(side_effect_sessions * outcome_known) as side_effect_sk,
        count(*) filter (answered > 0) as answering_patients,
        sum(answered * answered) as answered_ss,
        sum(satisfied * satisfied) as satisfied_ss,
        sum(satisfied * answered) as satisfied_sa
    from per_patient
    group by level
),

by_level as (
    select
        level,
        min(level_order) as level_order,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(outcome_known) as bigint) as outcome_known,
        cast(sum(side_effect_sessions) as bigint) as side_effect_sessions,
        cast(sum(petechiae) as bigint) as petechiae,
        cast(sum(prolonged_erythema) as bigint) as prolonged_erythema,
        cast(sum(hyperpigmentation) as bigint) as hyperpigmentation,
        cast(sum(answered) as bigint) as answered,
        cast(sum(satisfied) as bigint) as satisfied
    from levels
    where level is not null
    group by level
),

final as (
    select
        $setting as setting,
        b.level,
        b.level_order,
        b.sessions,
        b.outcome_known,
        b.side_effect_sessions,
        b.side_effect_sessions / nullif(b.outcome_known, 0) as side_effect_rate,
        cluster_wilson_low(b.side_effect_sessions, b.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_low,
        cluster_wilson_high(b.side_effect_sessions, b.outcome_known, c.side_effect_ss, c.side_effect_sk, c.known_ss,
            c.known_patients) as side_effect_rate_high,
        b.petechiae / nullif(b.outcome_known, 0) as petechiae_rate,
        b.answered,
        b.satisfied / nullif(b.answered, 0) as pct_satisfied,
        cluster_wilson_low(b.satisfied, b.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_low,
        cluster_wilson_high(b.satisfied, b.answered, c.satisfied_ss, c.satisfied_sa, c.answered_ss,
            c.answering_patients) as pct_satisfied_high
    from by_level as b
    inner join clusters as c on c.level = b.level
)

select * from final
order by level_order nulls last, level
