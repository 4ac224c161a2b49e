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
    loaded_at timestamp not null
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
-- Planned course length by indication (clinical reference: ~6 for photoageing/texture, 6-10 for scars/striae).
create or replace macro planned_sessions(indication) as
    case when indication in ('acne_scars', 'surgical_scars', 'stretch_marks') then 8 else 6 end;
