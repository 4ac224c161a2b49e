-- How the funnel limits were set: overdispersion (phi, tau squared) and the adjustment applied.
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
