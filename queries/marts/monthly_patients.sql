-- Distinct patients treated per month across the whole network (the unfiltered first screen reads this).
-- Grain: one row per month.
-- Params: none
with sessions_staged as (
    select * from stg_sessions
),

final as (
    select month, count(distinct patient_key) as patients
    from sessions_staged
    group by month
)

select * from final
order by month
