-- Sessions with the derived columns every rollup groups by: month, setting bands, skin group, outcome flags.
-- Grain: one row per stored session (clinic_id, session_id).
-- Params: none
with sessions_loaded as (
    select * from sessions
),

final as (
    select
        *,
        cast(date_trunc('month', session_date) as date) as month,
        cast(floor(vacuum_kpa / 5) * 5 as integer) as vacuum_band_low,
        cast(floor(vacuum_kpa / 5) * 5 as integer) || '–' || cast(floor(vacuum_kpa / 5) * 5 + 5 as integer) || ' kPa'
            as vacuum_band,
        case when particle_flow is not null then cast(least(floor(particle_flow / 10) * 10, 90) as integer) end
            as flow_band_low,
        case when particle_flow is not null
            then cast(least(floor(particle_flow / 10) * 10, 90) as integer) || '–'
                 || cast(least(floor(particle_flow / 10) * 10, 90) + 10 as integer) || ' %'
        end as flow_band,
        case when fitzpatrick <= 2 then 'I–II' when fitzpatrick <= 4 then 'III–IV' else 'V–VI' end as skin_group,
        satisfaction is not null as answered,
        coalesce(satisfaction >= 4, false) as satisfied,
        any_side_effect is not null as outcome_known,
        coalesce(any_side_effect, false) as had_side_effect,
        coalesce(list_contains(side_effects, 'prolonged_erythema'), false) as had_prolonged_erythema,
        coalesce(list_contains(side_effects, 'petechiae'), false) as had_petechiae,
        coalesce(list_contains(side_effects, 'abrasion'), false) as had_abrasion,
        coalesce(list_contains(side_effects, 'hyperpigmentation'), false) as had_hyperpigmentation,
        coalesce(list_contains(side_effects, 'infection'), false) as had_infection,
        coalesce(list_contains(side_effects, 'eye_irritation'), false) as had_eye_irritation,
        coalesce(list_contains(side_effects, 'other'), false) as had_other
    from sessions_loaded
)

select * from final
