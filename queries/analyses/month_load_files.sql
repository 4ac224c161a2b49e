-- Load files behind the stored sessions of a period and scope: sessions each file last wrote there, with the file's own load counts (updated rows = late corrections).
-- Grain: one row per batch and file.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional)
with sessions_in_scope as (
    select batch_id, source_file from sessions
    where ($date_from is null or session_date >= cast($date_from as date))
        and ($date_to is null or session_date <= cast($date_to as date))
        and ($clinic_id is null or clinic_id = $clinic_id)
),

files as (
    select * from load_files
),

batches as (
    select * from load_batches
),

stored as (
    select batch_id, source_file as file, count(*) as sessions_stored
    from sessions_in_scope
    group by batch_id, source_file
),

final as (
    select
        s.batch_id,
        b.started_at as loaded_at,
        s.file,
        f.format,
        s.sessions_stored,
        f.rows as file_rows,
        f.inserted,
        f.updated,
        f.unchanged,
        f.quarantined
    from stored as s
    inner join files as f on f.batch_id = s.batch_id and f.file = s.file
    inner join batches as b on b.batch_id = s.batch_id
)

select * from final
order by loaded_at, batch_id, file
