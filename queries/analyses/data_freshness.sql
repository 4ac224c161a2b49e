-- How current each clinic's data is: last session, last load that wrote its rows, and sessions in the last 30 days of data.
-- Grain: one row per clinic.
-- Params: $clinic_id (text, optional)
with sessions_loaded as (
    select * from sessions
    where ($clinic_id is null or clinic_id = $clinic_id)
),

batches as (
    select batch_id, finished_at from load_batches
),

network_end as (
    select max(session_date) as last_date from sessions
),

by_clinic as (
    select
        s.clinic_id,
        min(s.session_date) as first_session_date,
        max(s.session_date) as last_session_date,
        count(*) as sessions,
        count(*) filter (s.session_date > n.last_date - 30) as sessions_last_30_days,
        max(b.finished_at) as last_loaded_at,
        count(distinct s.source_file) as files
    from sessions_loaded as s
    cross join network_end as n
    left join batches as b on b.batch_id = s.batch_id
    group by s.clinic_id
),

final as (
    select
        c.*,
        n.last_date - c.last_session_date as days_behind_network,
        current_date - c.last_session_date as days_since_last_session
    from by_clinic as c
    cross join network_end as n
)

select * from final
order by clinic_id
