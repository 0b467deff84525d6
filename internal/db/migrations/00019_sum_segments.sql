-- The vehicles' month and year rows (00016) and the origins' route totals
-- (00017) take the new rows as segments, as the other array rollups do: a
-- refresh appends a row per key it touches, with an element per vehicle or
-- destination the new rows bring, instead of reading every touched row,
-- adding and writing it back whole. A refresh of 100k shipments spread
-- over every day at 10M touches all 39 vehicle rows and all 300 origins
-- (10 MB of arrays), and their rewrite took 0.25-0.4 s of it. Readers add
-- a key's segments up. The rebuild writes segment 0; a refresh numbers its
-- segment by its last batch, and merges a key's appended segments once
-- there are more than eight.

-- +goose Up
ALTER TABLE agg_vehicles RENAME TO agg_vehicle_periods;
ALTER INDEX agg_vehicles_pkey RENAME TO agg_vehicle_periods_pkey;
CREATE TABLE agg_vehicles (
    grain       smallint           NOT NULL, -- 1 month, 2 year
    period      date               NOT NULL, -- the first day of the month or year
    segment     bigint             NOT NULL,
    vehicle_ids text[] COLLATE "C" NOT NULL,
    trips       bigint[]           NOT NULL,
    mileage     double precision[] NOT NULL,
    fuel        double precision[] NOT NULL,
    shipments   bigint[]           NOT NULL,
    sum_cost    double precision[] NOT NULL,
    sum_dt      bigint[]           NOT NULL,
    PRIMARY KEY (grain, period, segment)
);
INSERT INTO agg_vehicles
SELECT grain, period, 0, vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt FROM agg_vehicle_periods;
DROP TABLE agg_vehicle_periods;

ALTER TABLE agg_route_totals RENAME TO agg_route_total_origins;
ALTER INDEX agg_route_totals_pkey RENAME TO agg_route_total_origins_pkey;
CREATE TABLE agg_route_totals (
    origin          text COLLATE "C"   NOT NULL,
    segment         bigint             NOT NULL,
    destinations    text[] COLLATE "C" NOT NULL,
    shipments       bigint[]           NOT NULL,
    sum_cost        double precision[] NOT NULL,
    sum_weight      double precision[] NOT NULL,
    sum_dt          bigint[]           NOT NULL,
    min_dt          integer[]          NOT NULL,
    max_dt          integer[]          NOT NULL,
    unique_vehicles bigint[]           NOT NULL,
    PRIMARY KEY (origin, segment)
);
INSERT INTO agg_route_totals
SELECT origin, 0, destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles
FROM agg_route_total_origins;
DROP TABLE agg_route_total_origins;

-- +goose Down
ALTER TABLE agg_vehicles RENAME TO agg_vehicle_segments;
ALTER INDEX agg_vehicles_pkey RENAME TO agg_vehicle_segments_pkey;
CREATE TABLE agg_vehicles (
    grain       smallint           NOT NULL, -- 1 month, 2 year
    period      date               NOT NULL, -- the first day of the month or year
    vehicle_ids text[] COLLATE "C" NOT NULL,
    trips       bigint[]           NOT NULL,
    mileage     double precision[] NOT NULL,
    fuel        double precision[] NOT NULL,
    shipments   bigint[]           NOT NULL,
    sum_cost    double precision[] NOT NULL,
    sum_dt      bigint[]           NOT NULL,
    PRIMARY KEY (grain, period)
);
INSERT INTO agg_vehicles
SELECT grain, period, array_agg(v ORDER BY v), array_agg(t ORDER BY v), array_agg(m ORDER BY v),
       array_agg(f ORDER BY v), array_agg(n ORDER BY v), array_agg(c ORDER BY v), array_agg(dt ORDER BY v)
FROM (SELECT grain, period, v, sum(t)::bigint AS t, sum(m) AS m, sum(f) AS f, sum(n)::bigint AS n, sum(c) AS c,
             sum(dt)::bigint AS dt
      FROM agg_vehicle_segments, unnest(vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt)
           AS u(v, t, m, f, n, c, dt)
      GROUP BY 1, 2, 3) x
GROUP BY 1, 2;
DROP TABLE agg_vehicle_segments;

ALTER TABLE agg_route_totals RENAME TO agg_route_total_segments;
ALTER INDEX agg_route_totals_pkey RENAME TO agg_route_total_segments_pkey;
CREATE TABLE agg_route_totals (
    origin          text COLLATE "C"   NOT NULL PRIMARY KEY,
    destinations    text[] COLLATE "C" NOT NULL,
    shipments       bigint[]           NOT NULL,
    sum_cost        double precision[] NOT NULL,
    sum_weight      double precision[] NOT NULL,
    sum_dt          bigint[]           NOT NULL,
    min_dt          integer[]          NOT NULL,
    max_dt          integer[]          NOT NULL,
    unique_vehicles bigint[]           NOT NULL
);
INSERT INTO agg_route_totals
SELECT origin, array_agg(de ORDER BY de), array_agg(n ORDER BY de), array_agg(c ORDER BY de), array_agg(w ORDER BY de),
       array_agg(dt ORDER BY de), array_agg(mi ORDER BY de), array_agg(ma ORDER BY de), array_agg(uv ORDER BY de)
FROM (SELECT origin, de, sum(n)::bigint AS n, sum(c) AS c, sum(w) AS w, sum(dt)::bigint AS dt, min(mi) AS mi,
             max(ma) AS ma, sum(uv)::bigint AS uv
      FROM agg_route_total_segments,
           unnest(destinations, shipments, sum_cost, sum_weight, sum_dt, min_dt, max_dt, unique_vehicles)
           AS u(de, n, c, w, dt, mi, ma, uv)
      GROUP BY 1, 2) x
GROUP BY 1;
DROP TABLE agg_route_total_segments;
