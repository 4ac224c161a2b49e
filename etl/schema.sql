-- Tables the load writes. Analysts read them (and the views/marts built on them); only the load writes.
create table if not exists schema_info (key varchar primary key, value varchar);

create table if not exists sessions (
    clinic_id varchar not null,
    session_id varchar not null,
    patient_key varchar not null,
    clinician_id varchar not null,
    session_date date not null,
    crystal_type varchar not null,
    vacuum_kpa double not null,
    passes integer not null,
    treatment_area varchar not null,
    indication varchar not null,
    fitzpatrick integer not null,
    particle_flow double,
    session_number integer not null,
    reported_session_number integer,
    device_model varchar,
    anaesthesia boolean,
    pre_care_followed boolean,
    soothing_mask boolean,
    birth_year integer,
    age_years integer,
    satisfaction integer,
    side_effects varchar[],
    follow_up_done boolean,
    any_side_effect boolean,
    batch_id varchar not null,
    source_file varchar not null,
    source_row integer not null
);

create table if not exists load_batches (
    batch_id varchar primary key,
    snapshot varchar not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    software_version varchar not null,
    files integer not null,
    files_rejected integer not null,
    rows bigint not null,
    inserted bigint not null,
    updated bigint not null,
    unchanged bigint not null,
    quarantined bigint not null
);

create table if not exists load_files (
    batch_id varchar not null,
    file_seq integer not null,
    file varchar not null,
    format varchar not null,
    sha256 varchar not null,
    bytes bigint not null,
    status varchar not null,
    reason varchar,
    rows bigint not null,
    inserted bigint not null,
    updated bigint not null,
    unchanged bigint not null,
    quarantined bigint not null,
    ignored_columns varchar[],
    dropped_columns varchar[],
    loaded_at timestamp not null,
    clinics varchar[],
    first_session_date date,
    last_session_date date,
    mapping_name varchar,
    mapping_sha256 varchar
);

create table if not exists quarantine (
    batch_id varchar not null,
    file varchar not null,
    "row" bigint not null,
    "column" varchar not null,
    value varchar,
    reason varchar not null,
    clinic_id varchar,
    session_id varchar,
    patient_key varchar
);

-- Wilson score interval (95%) for a proportion x/n: the interval every rate in the product shows.
create or replace macro wilson_low(x, n) as
    case when n > 0 then ((x / n) + 1.920729 / n
        - 1.959964 * sqrt((x / n) * (1 - x / n) / n + 0.960365 / (n * n))) / (1 + 3.841459 / n) end;
create or replace macro wilson_high(x, n) as
    case when n > 0 then ((x / n) + 1.920729 / n
        + 1.959964 * sqrt((x / n) * (1 - x / n) / n + 0.960365 / (n * n))) / (1 + 3.841459 / n) end;
-- Student's t 97.5% quantile (Abramowitz & Stegun 26.7.5 to the 1/df^4 term; exact for df = 1),
-- the same series as analysis.clustered_rates.t975.
create or replace macro t975(df) as
    case when df < 1 then null when df < 1.5 then 12.7062
        else 1.959964 + 2.372271 / df + 2.822499 / (df * df) + 2.555850 / (df * df * df)
            + 1.589534 / (df * df * df * df) end;
-- Wilson score bounds for a proportion p on an effective sample size m with quantile z.
create or replace macro wilson_z_low(p, m, z) as
    case when m > 0 then (p + z * z / (2 * m) - z * sqrt(p * (1 - p) / m + z * z / (4 * m * m))) / (1 + z * z / m) end;
create or replace macro wilson_z_high(p, m, z) as
    case when m > 0 then (p + z * z / (2 * m) + z * sqrt(p * (1 - p) / m + z * z / (4 * m * m))) / (1 + z * z / m) end;
-- Design effect of patients' repeated sessions on a rate y/n (at least 1): the ratio estimator's
-- clustered variance G/(G-1) sum_g (y_g - p n_g)^2 / n^2 over the binomial p(1-p)/n, from the
-- per-patient sums syy = sum y_g^2, syn = sum y_g n_g, snn = sum n_g^2 over g patients. A rate of
-- 0 or 1 gives no estimate: the mean sessions per patient, the most it can be.
create or replace macro design_effect(y, n, syy, syn, snn, g) as
    case when n <= 0 or g <= 0 then null
        when g < 2 or y <= 0 or y >= n then greatest(1.0, n / g)
        else greatest(1.0, (g / (g - 1.0)) * (syy - 2 * (y / n) * syn + (y / n) * (y / n) * snn) / (n * n)
            / ((y / n) * (1 - y / n) / n)) end;
-- Patient-clustered 95% interval of a rate y/n: Wilson on the effective sample size n / design
-- effect, with t(g - 1) in place of the normal quantile below 100 patients (analysis.clustered_rates).
create or replace macro cluster_wilson_low(y, n, syy, syn, snn, g) as
    greatest(0.0, wilson_z_low(y / n, n / design_effect(y, n, syy, syn, snn, g),
        case when g < 100 then t975(g - 1) else 1.959964 end));
create or replace macro cluster_wilson_high(y, n, syy, syn, snn, g) as
    least(1.0, wilson_z_high(y / n, n / design_effect(y, n, syy, syn, snn, g),
        case when g < 100 then t975(g - 1) else 1.959964 end));
-- The analyses' shared optional filters, one definition (docs/queries.md): the rows of a mart in the
-- chosen months and cells. `source` names a mart with month, clinic_id, clinician_id, crystal_type,
-- treatment_area, indication and fitzpatrick; a filter left NULL keeps every row.
create or replace macro filtered_rows(source, date_from := null, date_to := null, clinic_id := null,
        clinician_id := null, crystal_type := null, treatment_area := null, indication := null,
        fitzpatrick := null) as table
    select * from query_table(source) as r
    where (date_from is null or r.month >= date_trunc('month', cast(date_from as date)))
        and (date_to is null or r.month <= cast(date_to as date))
        and (clinic_id is null or r.clinic_id = clinic_id)
        and (clinician_id is null or r.clinician_id = clinician_id)
        and (crystal_type is null or r.crystal_type = crystal_type)
        and (treatment_area is null or r.treatment_area = treatment_area)
        and (indication is null or r.indication = indication)
        and (fitzpatrick is null or r.fitzpatrick = fitzpatrick);
-- The patient's number in the marts: the first 60 bits of the pseudonym's MD5, an integer every engine
-- computes alike (derma/lake/transpile.py writes it for Spark), so patient counts and sums agree across
-- engines. The chance that two of a million patients share a number is about 4 in 10 million.
create or replace macro patient_number(patient_key) as cast(('0x' || left(md5(patient_key), 15)) as bigint);
-- Planned course length by indication (clinical reference: ~6 for photoageing/texture, 6-10 for scars/striae).
create or replace macro planned_sessions(indication) as
    case when indication in ('acne_scars', 'surgical_scars', 'stretch_marks') then 8 else 6 end;

-- Model results, written by a model refresh (dashboard/modelling.py) for the data batch they were
-- fitted on. A run's scope is 'network' or a clinic id (a clinic's own fit).
create table if not exists model_runs (
    run_id varchar primary key,
    scope varchar not null,
    data_batch_id varchar not null,
    fitted_at timestamp not null,
    software_version varchar not null,
    seconds double not null,
    n_sessions bigint not null
);
create table if not exists model_summaries (
    run_id varchar, model varchar, outcome varchar, method varchar, status varchar,
    n_sessions bigint, n_patients bigint, n_events bigint, warnings varchar[],
    adjusted_for varchar[], estimand varchar, checks varchar[]
);
create table if not exists model_effects (
    run_id varchar, model varchar, term varchar, label varchar, unit varchar, scale varchar,
    estimate double, ci_low double, ci_high double, p_value double, n bigint
);
create table if not exists model_curves (
    run_id varchar, curve varchar, x_name varchar, y_name varchar, x double,
    estimate double, ci_low double, ci_high double, n bigint, reference varchar, note varchar
);
create table if not exists model_po_check (
    run_id varchar, term varchar, label varchar, cut varchar, binary_or double, binary_ci_low double,
    binary_ci_high double, po_or double, po_ci_low double, po_ci_high double, verdict varchar,
    checked_on varchar
);
create table if not exists settings_explorer (
    run_id varchar, fitzpatrick integer, indication varchar, treatment_area varchar, crystal_type varchar,
    vacuum_kpa double, passes integer,
    p_satisfied double, p_satisfied_low double, p_satisfied_high double,
    p_side_effect double, p_side_effect_low double, p_side_effect_high double
);
create table if not exists funnel_units (
    run_id varchar, unit_type varchar, clinic_id varchar, unit varchar, n_sessions bigint,
    observed double, expected double, oe_ratio double, oe_low double, oe_high double, z double,
    lower_95 double, upper_95 double, lower_998 double, upper_998 double, flag varchar, reading varchar,
    small_sample varchar, outside_95 boolean, trimmed boolean, plain_lower_998 double, plain_upper_998 double
);
create table if not exists funnel_limits (
    run_id varchar, unit_type varchar, expected double, lower_95 double, upper_95 double,
    lower_998 double, upper_998 double, plain_lower_95 double, plain_upper_95 double,
    plain_lower_998 double, plain_upper_998 double
);
create table if not exists funnel_summaries (
    run_id varchar, unit_type varchar, status varchar, method varchar, adjustment varchar,
    phi double, tau2 double, n_units bigint, notes varchar[], n_used bigint, n_groups bigint,
    compared_within varchar, comparison varchar, adjusted_for varchar[]
);
create table if not exists spc_points (
    run_id varchar, unit varchar, chart varchar, measure varchar, month date, value double,
    events double, n double, z double, segment integer, in_baseline boolean, moving_range double,
    mr_screened boolean, centre double, lower double, upper double, lower_2s double, upper_2s double,
    special_cause boolean, special_cause_type varchar, point_type varchar, rules varchar[], target double,
    alert_sessions bigint, alert_observed double, alert_expected double, cusum double, cusum_limit double,
    alert boolean
);
create table if not exists spc_verdicts (
    run_id varchar, unit varchar, chart varchar, measure varchar, status varchar, verdict varchar,
    notes varchar[], alert boolean, alert_status varchar, alert_reading varchar, alert_since date,
    last_alert date, alert_events varchar, alert_odds_ratio double, in_control_arl double,
    cusum_limit double, direction varchar, target double, variation varchar, assurance varchar,
    segment_start date, chart_inputs varchar
);
create table if not exists course_curves (
    run_id varchar, indication varchar, session integer, at_risk bigint, satisfied bigint, censored bigint,
    cum_satisfied double, ci_low double, ci_high double, stopped bigint,
    cif_satisfied double, cif_satisfied_low double, cif_satisfied_high double,
    cif_stopped double, cif_stopped_low double, cif_stopped_high double
);
create table if not exists course_summaries (
    run_id varchar, indication varchar, n_courses bigint, n_satisfied bigint, median double,
    median_low double, median_high double, median_text varchar, notes varchar[]
);
create table if not exists course_dropout (
    run_id varchar, indication varchar, session_number integer, reached bigint, dropped_after bigint,
    at_risk bigint, dropout_rate double, ci_low double, ci_high double, small_sample varchar
);
