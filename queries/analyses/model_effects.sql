-- Adjusted effects (odds ratios with 95% intervals and p-values) of the latest model run for a scope.
-- Grain: one row per model and term. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $model (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from model_effects
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and ($model is null or r.model = $model)
)

select * from final
order by model, term
