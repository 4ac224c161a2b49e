-- Outcomes by position in the course, so course curves never scan raw sessions.
-- Grain: one row per clinic, clinician, month, crystal type, area, indication, skin type, session number.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select
        clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick, session_number,
        count(*) as sessions,
        count(*) filter (answered) as answered,
        count(*) filter (satisfied) as satisfied,
        coalesce(sum(satisfaction), 0) as rating_sum,
        count(*) filter (outcome_known) as outcome_known,
        count(*) filter (had_side_effect) as side_effect_sessions
    from sessions_staged
    group by all
)

select * from final
