-- Fitted models of the latest run for a scope: method, sizes, status and warnings (fresh = fitted on the latest data).
-- Grain: one row per model. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from model_summaries
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
)

select * from final
order by model
