-- Courses stopping after each session number, by indication, with Wilson 95% intervals.
-- Grain: one row per indication and session number. The scope is 'network' (default) or a clinic id with its own fit.
-- Params: $scope (text, optional), $indication (text, optional)
with runs as (
    select * from stg_model_runs
    where is_latest and scope = coalesce($scope, 'network')
),

results as (
    select * from course_dropout
),

final as (
    select r.*, runs.scope, runs.data_batch_id, runs.fitted_at, runs.is_fresh
    from results as r
    inner join runs on runs.run_id = r.run_id
    where true
      and ($indication is null or r.indication = $indication)
)

select * from final
order by indication, session_number
