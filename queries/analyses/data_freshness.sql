-- How current each clinic's data is: last session, last load that wrote its rows, and sessions in the last 30 days of data.
-- Grain: one row per clinic.
-- Params: $clinic_id (text, optional)
with freshness as (
    select * from clinic_freshness
    where ($clinic_id is null or clinic_id = $clinic_id)
),

final as (
    select
        clinic_id,
        first_session_date,
        last_session_date,
        sessions,
        sessions_last_30_days,
        last_loaded_at,
        files,
        network_last_date - last_session_date as days_behind_network,
        current_date - last_session_date as days_since_last_session
    from freshness
)

select * from final
order by clinic_id
