-- Monthly side-effect events over known outcomes and ratings over answered surveys, for the network and each clinic (the control charts' input).
-- Grain: one row per unit (network or clinic) and month.
-- Params: $scope (text, optional)
with outcomes as (
    select * from monthly_outcomes
    where $scope is null or $scope = 'network' or clinic_id = $scope
),

by_clinic as (
    select
        clinic_id as unit,
        month,
        sum(side_effect_sessions) as events,
        sum(outcome_known) as n,
        sum(rating_sum) as rating_sum,
        sum(answered) as answered
    from outcomes
    group by all
),

by_network as (
    select
        'network' as unit,
        month,
        sum(side_effect_sessions) as events,
        sum(outcome_known) as n,
        sum(rating_sum) as rating_sum,
        sum(answered) as answered
    from outcomes
    where $scope is null or $scope = 'network'
    group by all
),

final as (
    select
        unit,
        month,
        cast(events as bigint) as events,
        cast(n as bigint) as n,
        rating_sum / nullif(answered, 0) as rating,
        cast(answered as bigint) as answered
    from (select * from by_network union all select * from by_clinic)
)

select * from final
order by unit = 'network' desc, unit, month
