-- The sessions behind a point of a chart (a month, a clinic or clinician, a settings level), with pseudonymised patient keys only.
-- Grain: one row per session.
-- Params: $date_from (date, optional), $date_to (date, optional), $clinic_id (text, optional), $clinician_id (text, optional), $crystal_type (text, optional), $treatment_area (text, optional), $indication (text, optional), $fitzpatrick (integer, optional), $setting (text, optional), $level (text, optional)
with picked as (
    select * from filtered_rows(
        'stg_sessions', date_from := $date_from, date_to := $date_to, clinic_id := $clinic_id,
        clinician_id := $clinician_id, crystal_type := $crystal_type, treatment_area := $treatment_area,
        indication := $indication, fitzpatrick := $fitzpatrick
    )
),

at_level as (
    select * from picked
    where $setting is null or $level is null or $level = case $setting
        when 'vacuum_band' then vacuum_band
        when 'passes' then cast(passes as varchar) || ' passes'
        when 'flow_band' then flow_band
        when 'crystal_type' then crystal_type
        else error('setting must be one of vacuum_band, passes, flow_band, crystal_type')
    end
),

final as (
    select
        clinic_id,
        clinician_id,
        patient_key,
        session_date,
        session_number,
        indication,
        treatment_area,
        fitzpatrick,
        crystal_type,
        vacuum_kpa,
        passes,
        particle_flow,
        satisfaction,
        array_to_string(side_effects, ', ') as side_effects,
        any_side_effect,
        follow_up_done
    from at_level
)

select * from final
order by clinic_id, patient_key, session_date, session_number
