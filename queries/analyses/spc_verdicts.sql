-- The latest month per unit and chart: the verdict in words, the alert, the variation and assurance icons.
-- Grain: one row per unit and chart. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $unit (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from spc_verdicts
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and ($unit is null or r.unit = $unit)
)

select * from final
order by unit, chart
