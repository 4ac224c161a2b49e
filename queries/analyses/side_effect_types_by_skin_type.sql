-- Rate of each side-effect type by Fitzpatrick skin type with Wilson 95% intervals; denominator = sessions with a known outcome.
-- Grain: one row per skin type and side-effect type.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with outcomes as (
    select * from filtered_rows(
        'monthly_outcomes', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

by_skin as (
    select
        fitzpatrick,
        cast(sum(outcome_known) as bigint) as outcome_known,
        cast(sum(prolonged_erythema) as bigint) as prolonged_erythema,
        cast(sum(petechiae) as bigint) as petechiae,
        cast(sum(abrasion) as bigint) as abrasion,
        cast(sum(hyperpigmentation) as bigint) as hyperpigmentation,
        cast(sum(infection) as bigint) as infection,
        cast(sum(eye_irritation) as bigint) as eye_irritation,
        cast(sum(other) as bigint) as other
    from outcomes
    group by fitzpatrick
),

long as (
    unpivot by_skin
    on prolonged_erythema, petechiae, abrasion, hyperpigmentation, infection, eye_irritation, other
    into name side_effect value events
),

final as (
    select
        fitzpatrick,
        side_effect,
        events,
        outcome_known,
        events / nullif(outcome_known, 0) as rate,
        wilson_low(events, outcome_known) as rate_low,
        wilson_high(events, outcome_known) as rate_high
    from long
)

select * from final
order by fitzpatrick, side_effect
