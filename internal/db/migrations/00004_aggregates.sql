-- Aggregates: the rollups every API answer is computed from (docs/api.md#4-aggregate-refresh,
-- docs/data.md#7-columns-the-api-uses), and the bookkeeping of their refresh.
--
-- Rollups keyed by (grain, period) hold one row per day (grain 0), per month
-- (grain 1, period = the month's first day) or per year (grain 2, period =
-- January 1st). Coarse rows are sums of the finer rows they cover, so a
-- window [a, b] is answered by adding the day rows up to the first month (or
-- year) boundary, the months, the years in between and the days after,
-- whatever its length. Every column is additive (counts, sums, sums of
-- squares) or a min/max. Route rows have days and years only (see
-- jobs/precalc).
--
-- A refresh rewrites rows inside one transaction: readers, in their own
-- snapshot, see the previous version until it commits. A full rebuild
-- instead fills new tables and swaps them in at commit, so readers lock
-- these tables before their first query (internal/rollup.Begin).

-- +goose Up

-- Window totals: shipments, logs, and the per-day figures that are not
-- additive over a window unless kept per day (distinct vehicles per day).
CREATE TABLE agg_totals (
    grain            smallint         NOT NULL,
    period           date             NOT NULL,
    logs             bigint           NOT NULL,
    mileage          double precision NOT NULL,
    fuel             double precision NOT NULL,
    -- mileage of the logs that carried at least one shipment (cost_per_km)
    carrying_mileage double precision NOT NULL,
    shipments        bigint           NOT NULL,
    sum_cost         double precision NOT NULL,
    sum_weight       double precision NOT NULL,
    sum_dt           bigint           NOT NULL,
    sum_dt2          numeric          NOT NULL,
    min_dt           integer,
    max_dt           integer,
    -- bounds of cost / weight over single shipments (top-performing)
    min_cpk          double precision,
    max_cpk          double precision,
    -- days with at least one shipment, and the sum over those days of the
    -- number of distinct vehicles that carried one (dashboard active_vehicles)
    ship_days        integer          NOT NULL,
    vehicle_days     bigint           NOT NULL,
    PRIMARY KEY (grain, period)
);

-- Per route and delivery time: delivery_time is integral and takes few
-- values per route, so one row per value keeps the exact distribution
-- (on-time rates compare each shipment with a mean) at little more than
-- one row per route, and Σt, Σt², min and max follow from it exactly.
CREATE TABLE agg_routes (
    grain         smallint         NOT NULL,
    period        date             NOT NULL,
    origin        text             NOT NULL,
    destination   text             NOT NULL,
    delivery_time integer          NOT NULL,
    shipments     bigint           NOT NULL,
    sum_cost      double precision NOT NULL,
    sum_weight    double precision NOT NULL,
    -- Σ cost/weight and Σ cost/delivery_time over single shipments
    sum_cpk       double precision NOT NULL,
    sum_cpt       double precision NOT NULL,
    -- shipments at or below their route's mean delivery time of the same day
    on_time_day   bigint           NOT NULL
);
-- Unique over every row would index two text columns of tens of millions
-- of day rows; the refresh writes those whole days, and only year rows are
-- updated in place (by ON CONFLICT on this partial key).
CREATE INDEX agg_routes_period_idx ON agg_routes (grain, period);
CREATE UNIQUE INDEX agg_routes_year_key ON agg_routes (period, origin, destination, delivery_time) WHERE grain = 2;

-- Per vehicle: its logs, and the shipments they carried.
CREATE TABLE agg_vehicles (
    grain      smallint         NOT NULL,
    period     date             NOT NULL,
    vehicle_id text             NOT NULL,
    trips      bigint           NOT NULL,
    mileage    double precision NOT NULL,
    fuel       double precision NOT NULL,
    shipments  bigint           NOT NULL,
    sum_cost   double precision NOT NULL,
    sum_dt     bigint           NOT NULL,
    PRIMARY KEY (grain, period, vehicle_id)
);
CREATE INDEX agg_vehicles_vehicle_idx ON agg_vehicles (vehicle_id, grain, period);

-- Per day, vehicle and route (days only: the pairs barely repeat, coarser
-- rows would not be fewer). For a vehicle's top routes, a route's vehicles
-- in a window and all-time distinct vehicles per route.
CREATE TABLE agg_vehicle_routes (
    vehicle_id  text             NOT NULL,
    period      date             NOT NULL,
    origin      text             NOT NULL,
    destination text             NOT NULL,
    -- logs carrying at least one shipment of the route
    trips       bigint           NOT NULL,
    shipments   bigint           NOT NULL,
    sum_cost    double precision NOT NULL,
    sum_dt      bigint           NOT NULL,
    PRIMARY KEY (vehicle_id, period, origin, destination)
);
-- Widened by 00005 to (origin, destination, vehicle_id).
CREATE INDEX agg_vehicle_routes_route_idx ON agg_vehicle_routes (origin, destination);

-- All-time figures per route (docs/api.md#33-get-apishipmentsroutes).
CREATE TABLE agg_route_totals (
    origin          text             NOT NULL,
    destination     text             NOT NULL,
    shipments       bigint           NOT NULL,
    sum_cost        double precision NOT NULL,
    sum_weight      double precision NOT NULL,
    sum_dt          bigint           NOT NULL,
    min_dt          integer          NOT NULL,
    max_dt          integer          NOT NULL,
    unique_vehicles bigint           NOT NULL,
    PRIMARY KEY (origin, destination)
);

-- The vehicles as of the served version (docs/data.md#7-columns-the-api-uses: names and lifetime
-- mileage are snapshotted, so a version is self-consistent).
CREATE TABLE agg_vehicle_info (
    vehicle_id    text             PRIMARY KEY,
    name          text             NOT NULL,
    total_mileage double precision NOT NULL
);

-- The refresh's own state, one row. version 0 means nothing is servable yet.
CREATE TABLE precalc_state (
    id             boolean     PRIMARY KEY DEFAULT true CHECK (id),
    version        bigint      NOT NULL DEFAULT 0,
    refreshed_at   timestamptz,
    -- the last failed refresh, cleared by the next success
    last_error     text,
    last_error_at  timestamptz
);
INSERT INTO precalc_state DEFAULT VALUES;

-- One row per successful refresh.
CREATE TABLE precalc_refreshes (
    version     bigint      PRIMARY KEY,
    full_build  boolean     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    days        integer     NOT NULL,
    runs        text[]      NOT NULL
);

-- Days and runs a refresh has taken over from precalc_dirty_days and
-- precalc_pending_runs but not yet committed: a refresh that fails leaves
-- them here for the next one.
CREATE TABLE precalc_claimed_days (
    day date PRIMARY KEY
);

-- Succeeded runs whose data no served version includes yet; written by
-- ingest in the transaction that records the run's success.
CREATE TABLE precalc_pending_runs (
    run_id  text    PRIMARY KEY REFERENCES ingest_runs ON DELETE CASCADE,
    claimed boolean NOT NULL DEFAULT false
);

ALTER TABLE ingest_runs ADD COLUMN precalc_version bigint;

-- +goose Down
ALTER TABLE ingest_runs DROP COLUMN precalc_version;
DROP TABLE precalc_pending_runs;
DROP TABLE precalc_claimed_days;
DROP TABLE precalc_refreshes;
DROP TABLE precalc_state;
DROP TABLE agg_vehicle_info;
DROP TABLE agg_route_totals;
DROP TABLE agg_vehicle_routes;
DROP TABLE agg_vehicles;
DROP TABLE agg_routes;
DROP TABLE agg_totals;
