-- Rejected rows with their reasons (patient numbers masked at the door).
-- Grain: one row per broken rule of a quarantined row.
-- Params: $batch_id (text, optional), $clinic_id (text, optional)
with quarantine_records as (
    select * from quarantine
),

final as (
    select batch_id, file, "row", "column", value, reason, clinic_id, session_id, patient_key
    from quarantine_records
    where ($batch_id is null or batch_id = $batch_id)
      and ($clinic_id is null or clinic_id = $clinic_id)
)

select * from final
order by batch_id, file, "row", "column"
