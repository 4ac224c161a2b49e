-- Clinic x clinician x month rollup with the denominators that make each rate honest.
-- Grain: one row per clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select
        clinic_id,
        clinician_id,
        month,
        crystal_type,
        treatment_area,
        indication,
        fitzpatrick,
        count(*) as sessions,
        count(*) filter (answered) as answered,
        count(*) filter (satisfied) as satisfied,
        coalesce(sum(satisfaction), 0) as rating_sum,
        count(*) filter (outcome_known) as outcome_known,
        count(*) filter (had_side_effect) as side_effect_sessions,
        count(*) filter (had_prolonged_erythema) as prolonged_erythema,
        count(*) filter (had_petechiae) as petechiae,
        count(*) filter (had_abrasion) as abrasion,
        count(*) filter (had_hyperpigmentation) as hyperpigmentation,
        count(*) filter (had_infection) as infection,
        count(*) filter (had_eye_irritation) as eye_irritation,
        count(*) filter (had_other) as other,
        count(*) filter (pre_care_followed = false) as pre_care_skipped,
        sum(vacuum_kpa) as vacuum_kpa_sum,
        sum(passes) as passes_sum
    from sessions_staged
    group by all
)

select * from final
