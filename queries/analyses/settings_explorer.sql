-- Predicted satisfaction and side-effect risk over vacuum x passes for one patient profile, with 95% intervals.
-- Grain: one row per vacuum and passes setting. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $fitzpatrick (integer), $indication (text), $treatment_area (text), $crystal_type (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from settings_explorer
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and r.fitzpatrick = $fitzpatrick
      and r.indication = $indication
      and r.treatment_area = $treatment_area
      and ($crystal_type is null or r.crystal_type = $crystal_type)
)

select * from final
order by vacuum_kpa, passes
