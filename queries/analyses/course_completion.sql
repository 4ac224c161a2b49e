-- Course completion and dropout by indication for the courses that started in the chosen months (courses still within 42 days of their clinic's last session count as ongoing, not dropped out), with Wilson 95% intervals over finished courses.
-- Grain: one row per indication.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional)
with courses as (
    select * from filtered_rows(
        'patient_courses', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

by_indication as (
    select
        indication,
        any_value(planned_sessions) as planned_sessions,
        count(*) as courses,
        count(*) filter (status = 'completed') as completed,
        count(*) filter (status = 'dropped_out') as dropped_out,
        count(*) filter (status = 'ongoing') as ongoing,
        avg(sessions_done) filter (status <> 'ongoing') as mean_sessions_finished,
        count(*) filter (status = 'completed' and last_satisfaction is not null) as completed_answered,
        count(*) filter (status = 'completed' and last_satisfaction >= 4) as completed_satisfied
    from courses
    group by indication
),

final as (
    select
        indication,
        planned_sessions,
        courses,
        completed,
        dropped_out,
        ongoing,
        dropped_out / nullif(completed + dropped_out, 0) as dropout_rate,
        wilson_low(dropped_out, completed + dropped_out) as dropout_rate_low,
        wilson_high(dropped_out, completed + dropped_out) as dropout_rate_high,
        mean_sessions_finished,
        completed_answered,
        completed_satisfied / nullif(completed_answered, 0) as pct_satisfied_at_end,
        wilson_low(completed_satisfied, completed_answered) as pct_satisfied_at_end_low,
        wilson_high(completed_satisfied, completed_answered) as pct_satisfied_at_end_high
    from by_indication
)

select * from final
order by indication
