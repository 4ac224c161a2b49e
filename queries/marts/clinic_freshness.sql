-- How current each clinic's data is as of the load: date span, sessions, recent sessions, files, last load.
-- Grain: one row per clinic.
-- Params: none
with sessions_loaded as (
    select * from sessions
),

batches as (
    select batch_id, finished_at from load_batches
),

network_end as (
    select max(session_date) as last_date from sessions_loaded
),

final as (
    select
        s.clinic_id,
        min(s.session_date) as first_session_date,
        max(s.session_date) as last_session_date,
        count(*) as sessions,
        count(*) filter (date_diff('day', s.session_date, n.last_date) < 30) as sessions_last_30_days,
        max(b.finished_at) as last_loaded_at,
        count(distinct s.source_file) as files,
        any_value(n.last_date) as network_last_date
    from sessions_loaded as s
    cross join network_end as n
    left join batches as b on b.batch_id = s.batch_id
    group by s.clinic_id
)

select * from final
order by clinic_id
