-- Kaplan-Meier share of courses satisfied (rating 4-5) by session number, with 95% bands, overall and by indication.
-- Grain: one row per indication and session. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $indication (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from course_curves
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and ($indication is null or r.indication = $indication)
)

select * from final
order by indication, session
