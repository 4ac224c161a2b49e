-- What each funnel compares and how its limits were set: case mix, over-dispersion (phi, tau squared), adjustment.
-- Grain: one row per unit type. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from funnel_summaries
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
)

select * from final
order by unit_type
