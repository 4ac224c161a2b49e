-- One row per patient course: sessions done, dates and gaps, completion, satisfaction and side effects.
-- Grain: one row per course = clinic_id, patient_key, indication, treatment_area.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

data_end as (
    select clinic_id, max(session_date) as clinic_last_date from sessions_staged group by clinic_id
),

courses as (
    select
        clinic_id,
        patient_key,
        indication,
        treatment_area,
        -- The course's clinician and crystal are the ones most of its sessions had (ties: the first in
        -- order); with month (of the first session) they are the columns the shared filters read.
        mode(clinician_id order by clinician_id) as clinician_id,
        min(fitzpatrick) as fitzpatrick,
        mode(crystal_type order by crystal_type) as crystal_type,
        count(*) as sessions_done,
        max(session_number) as last_session_number,
        min(session_date) as first_session_date,
        date_trunc('month', min(session_date)) as month,
        max(session_date) as last_session_date,
        -- Gaps from the course's ordered dates: one aggregate instead of a window over every session.
        list(session_date order by session_date) as dates,
        count(*) filter (answered) as answered_sessions,
        arg_max(satisfaction, (session_date, session_id)) filter (answered) as last_satisfaction,
        max(satisfaction) as best_satisfaction,
        min(session_number) filter (satisfied) as first_satisfied_session,
        count(*) filter (outcome_known) as outcome_known_sessions,
        count(*) filter (had_side_effect) as side_effect_sessions,
        min(session_number) filter (had_side_effect) as first_side_effect_session
    from sessions_staged
    group by clinic_id, patient_key, indication, treatment_area
),

final as (
    select
        c.* exclude (dates),
        list_max(list_transform(range(1, array_length(c.dates)), lambda i: date_diff('day', c.dates[i], c.dates[i + 1])))
            as max_gap_days,
        case when c.sessions_done > 1
            then date_diff('day', c.first_session_date, c.last_session_date) / (c.sessions_done - 1) end as mean_gap_days,
        planned_sessions(c.indication) as planned_sessions,
        case
            when c.sessions_done >= planned_sessions(c.indication) then 'completed'
            when date_diff('day', c.last_session_date, d.clinic_last_date) <= 42 then 'ongoing'
            else 'dropped_out'
        end as status,
        case when c.outcome_known_sessions > 0 then c.side_effect_sessions > 0 end as any_side_effect
    from courses as c
    inner join data_end as d on d.clinic_id = c.clinic_id
)

select * from final
