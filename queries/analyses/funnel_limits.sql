-- Funnel-plot limits (95% and 99.8%) in force and for chance alone, over expected event counts.
-- Grain: one row per unit type and expected count. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $unit_type (text, one of clinician|clinic)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from funnel_limits
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and r.unit_type = $unit_type
)

select * from final
order by expected
