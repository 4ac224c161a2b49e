-- The patient courses behind a point of a chart: every course with at least one session in the selection (pseudonymised keys only).
-- Grain: one row per course = clinic_id, patient_key, indication, treatment_area.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional), $setting (text, optional), $level (text, optional)
with picked as (
    select * from filtered_rows(
        'stg_sessions', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

at_level as (
    select distinct clinic_id, patient_key, indication, treatment_area from picked
    where $setting is null or $level is null or $level = case $setting
        when 'vacuum_band' then vacuum_band
        when 'passes' then cast(passes as varchar) || ' passes'
        when 'flow_band' then flow_band
        when 'crystal_type' then crystal_type
        else error('setting must be one of vacuum_band, passes, flow_band, crystal_type')
    end
),

courses as (
    select * from patient_courses
),

final as (
    select
        c.clinic_id,
        c.clinician_id,
        c.patient_key,
        c.indication,
        c.treatment_area,
        c.fitzpatrick,
        c.sessions_done,
        c.planned_sessions,
        c.status,
        c.first_session_date,
        c.last_session_date,
        c.best_satisfaction,
        c.side_effect_sessions,
        c.outcome_known_sessions
    from courses as c
    inner join at_level using (clinic_id, patient_key, indication, treatment_area)
)

select * from final
order by clinic_id, patient_key, indication, treatment_area
