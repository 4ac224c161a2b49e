-- Rows received and rows quarantined per clinic and month of the files that carried them (a file's month: its last valid session date, else when it was loaded; a file without a valid clinic counts for 'unknown').
-- Grain: one row per clinic and month.
-- Params: $clinic_id (text, optional)
with files as (
    select * from load_files
),

per_clinic as (
    select
        coalesce(clinic, 'unknown') as clinic_id,
        date_trunc('month', coalesce(last_session_date, loaded_at::date))::date as month,
        rows,
        quarantined
    from files
    left join lateral (select unnest(coalesce(files.clinics, [])) as clinic) as c on true
),

final as (
    select
        clinic_id,
        month,
        cast(count(*) as bigint) as files,
        cast(sum(rows) as bigint) as rows,
        cast(sum(quarantined) as bigint) as quarantined
    from per_clinic
    where $clinic_id is null or clinic_id = $clinic_id
    group by clinic_id, month
)

select * from final
order by clinic_id, month
