-- Predicted curves with 95% bands at stated reference covariates, from the latest model run for a scope.
-- Grain: one row per curve and x value. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $curve (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from model_curves
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and ($curve is null or r.curve = $curve)
)

select * from final
order by curve, x
