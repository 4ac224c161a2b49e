-- One row per patient course: sessions done, dates and gaps, completion, satisfaction and side effects.
-- Grain: one row per course = clinic_id, patient_key, indication, treatment_area.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

data_end as (
    select clinic_id, max(session_date) as clinic_last_date from sessions_staged group by clinic_id
),

ordered as (
    select
        *,
        row_number() over course_order as course_session,
        session_date - lag(session_date) over course_order as gap_days,
        last_value(satisfaction ignore nulls) over (course_order rows between unbounded preceding and unbounded following)
            as last_satisfaction
    from sessions_staged
    window course_order as (partition by clinic_id, patient_key, indication, treatment_area
                            order by session_date, session_number, session_id)
),

courses as (
    select
        clinic_id,
        patient_key,
        indication,
        treatment_area,
        mode(clinician_id) as main_clinician_id,
        min(fitzpatrick) as fitzpatrick,
        mode(crystal_type) as main_crystal_type,
        count(*) as sessions_done,
        max(session_number) as last_session_number,
        min(session_date) as first_session_date,
        max(session_date) as last_session_date,
        max(gap_days) as max_gap_days,
        avg(gap_days) as mean_gap_days,
        count(*) filter (answered) as answered_sessions,
        any_value(last_satisfaction) as last_satisfaction,
        max(satisfaction) as best_satisfaction,
        min(course_session) filter (satisfied) as first_satisfied_session,
        count(*) filter (outcome_known) as outcome_known_sessions,
        count(*) filter (had_side_effect) as side_effect_sessions,
        min(course_session) filter (had_side_effect) as first_side_effect_session
    from ordered
    group by clinic_id, patient_key, indication, treatment_area
),

final as (
    select
        c.*,
        planned_sessions(c.indication) as planned_sessions,
        case
            when c.sessions_done >= planned_sessions(c.indication) then 'completed'
            when d.clinic_last_date - c.last_session_date <= 42 then 'ongoing'
            else 'dropped_out'
        end as status,
        case when c.outcome_known_sessions > 0 then c.side_effect_sessions > 0 end as any_side_effect
    from courses as c
    inner join data_end as d on d.clinic_id = c.clinic_id
)

select * from final
