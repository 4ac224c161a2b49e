-- Distinct patients per clinician and per clinic over all months (unfiltered crude comparisons read this).
-- Grain: one row per clinic and clinician, plus one per clinic with clinician_id null.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select clinic_id, clinician_id, count(distinct patient_key) as patients
    from sessions_staged
    group by grouping sets ((clinic_id, clinician_id), (clinic_id))
)

select * from final
order by clinic_id, clinician_id nulls first
