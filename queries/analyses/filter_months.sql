-- Months with sessions, for the dashboard's month filter (read from a small mart, not the sessions).
-- Grain: one row per month.
-- Params: none
with months as (
    select * from monthly_patients
),

final as (
    select month
    from months
)

select * from final
order by month
