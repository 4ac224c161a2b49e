-- Quarantined rows and broken rules by file and reason.
-- Grain: one row per batch, file and reason.
-- Params: $batch_id (text, optional), $clinic_id (text, optional)
with quarantine_records as (
    select * from quarantine
    where ($batch_id is null or batch_id = $batch_id)
      and ($clinic_id is null or clinic_id = $clinic_id)
),

files as (
    select batch_id, file, rows from load_files
),

final as (
    select
        q.batch_id,
        q.file,
        q.reason,
        count(distinct q."row") as rows_quarantined,
        count(*) as rule_breaks,
        any_value(f.rows) as file_rows
    from quarantine_records as q
    left join files as f on f.batch_id = q.batch_id and f.file = q.file
    group by q.batch_id, q.file, q.reason
)

select * from final
order by batch_id, file, reason
