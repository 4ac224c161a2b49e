-- Clinics and their clinicians, for the dashboard's filter choices (read from a small mart, not the sessions).
-- Grain: one row per clinic and clinician.
-- Params: none
with units as (
    select * from unit_patients
),

final as (
    select clinic_id, clinician_id
    from units
    where clinician_id is not null
)

select * from final
order by clinic_id, clinician_id
