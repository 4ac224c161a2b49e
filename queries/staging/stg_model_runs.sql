-- Model runs with whether each is the latest of its scope and fitted on the latest loaded batch.
-- Grain: one row per model run.
-- Params: none
with runs as (
    select * from model_runs
),

latest_batch as (
    select max(batch_id) as batch_id from load_batches
),

final as (
    select
        r.*,
        r.run_id = max(r.run_id) over (partition by r.scope) as is_latest,
        r.data_batch_id = b.batch_id as is_fresh
    from runs as r
    cross join latest_batch as b
)

select * from final
