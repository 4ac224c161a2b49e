-- Settings-band rollup for dose-response views: each patient's outcomes by vacuum band, passes and particle-flow band (patient-clustered intervals).
-- Grain: one row per patient, clinic, clinician, month, crystal type, area, indication, skin type, vacuum band, passes, flow band.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

bands as (
    -- Grouped on the integer band edges; labels are made once per cell, not once per session.
    select
        clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick,
        vacuum_band_low, passes, flow_band_low, patient_number(patient_key) as patient_no,
        count(*) as sessions,
        count(*) filter (outcome_known) as outcome_known,
        count(*) filter (had_side_effect) as side_effect_sessions,
        count(*) filter (had_petechiae) as petechiae,
        count(*) filter (had_prolonged_erythema) as prolonged_erythema,
        count(*) filter (had_hyperpigmentation) as hyperpigmentation,
        count(*) filter (answered) as answered,
        count(*) filter (satisfied) as satisfied
    from sessions_staged
    group by all
),

final as (
    select
        clinic_id, clinician_id, month, crystal_type, treatment_area, indication, fitzpatrick,
        vacuum_band_low,
        vacuum_band_low || '–' || (vacuum_band_low + 5) || ' kPa' as vacuum_band,
        passes,
        flow_band_low,
        case when flow_band_low is not null then flow_band_low || '–' || (flow_band_low + 10) || ' %' end as flow_band,
        patient_no,
        sessions, outcome_known, side_effect_sessions, petechiae, prolonged_erythema, hyperpigmentation,
        answered, satisfied
    from bands
)

select * from final
