-- Load history: one row per batch and file, with counts and the file's sha256.
-- Grain: one row per file of a batch.
-- Params: $batch_id (text, optional)
with batches as (
    select * from load_batches
),

files as (
    select * from load_files
),

final as (
    select
        b.batch_id, b.snapshot, b.started_at, b.finished_at, b.software_version,
        f.file_seq, f.file, f.format, f.status, f.reason, f.rows, f.inserted, f.updated, f.unchanged,
        f.quarantined, f.sha256, f.bytes
    from batches as b
    inner join files as f on f.batch_id = b.batch_id
    where ($batch_id is null or b.batch_id = $batch_id)
)

select * from final
order by started_at, file_seq
