-- Risk-adjusted observed/expected side effects per clinician or clinic with funnel limits; alphabetical, never ranked.
-- Grain: one row per unit. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $unit_type (text, one of clinician|clinic), $clinic_id (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from funnel_units
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and r.unit_type = $unit_type
      and ($clinic_id is null or r.clinic_id = $clinic_id)
)

select * from final
order by clinic_id, unit
