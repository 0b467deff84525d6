-- A vehicle's day was a row of agg_vehicles (grain 0), with two indexes on
-- text keys: 3.3M of its 3.5M rows and most of its 543 MB at 10M
-- shipments, the largest rollup left, and an index upsert per new vehicle
-- day in a refresh (issue 14). The days are kept as arrays, one row per
-- vehicle and month, appended to by a refresh as the vehicle route arrays
-- are (00007: segment, and a key's rows add up). The month and year rows
-- stay in agg_vehicles: a window's whole months and years are read from
-- them, and only its edge days from the arrays.
--
-- agg_vehicles_vehicle_idx served the reads of a vehicle's day rows, which
-- now read agg_vehicle_days' key: it is dropped.

-- +goose Up
CREATE TABLE agg_vehicle_days (
    vehicle_id text               NOT NULL,
    period     date               NOT NULL, -- the 1st of the days' month
    segment    bigint             NOT NULL,
    days       date[]             NOT NULL,
    trips      integer[]          NOT NULL,
    mileage    double precision[] NOT NULL,
    fuel       double precision[] NOT NULL,
    shipments  integer[]          NOT NULL,
    sum_cost   double precision[] NOT NULL,
    sum_dt     bigint[]           NOT NULL,
    PRIMARY KEY (vehicle_id, period, segment)
);
-- The days of a window's first and last months, for the vehicles' figures
-- read before the API's index of a new version is built: a rebuild writes
-- the rows month by month, so a month's rows are a few block ranges (10 ms
-- at 10M shipments, against 73 ms through the key).
CREATE INDEX agg_vehicle_days_period_idx ON agg_vehicle_days USING brin (period);
INSERT INTO agg_vehicle_days
SELECT vehicle_id, date_trunc('month', period)::date, 0,
       array_agg(period ORDER BY period), array_agg(trips::integer ORDER BY period),
       array_agg(mileage ORDER BY period), array_agg(fuel ORDER BY period),
       array_agg(shipments::integer ORDER BY period), array_agg(sum_cost ORDER BY period),
       array_agg(sum_dt ORDER BY period)
FROM agg_vehicles
WHERE grain = 0
GROUP BY 1, 2;
DELETE FROM agg_vehicles WHERE grain = 0;
DROP INDEX agg_vehicles_vehicle_idx;

-- +goose Down
INSERT INTO agg_vehicles
SELECT 0, d, vehicle_id, sum(t), sum(m), sum(f), sum(n), sum(c), sum(dt)
FROM agg_vehicle_days, unnest(days, trips, mileage, fuel, shipments, sum_cost, sum_dt) AS u(d, t, m, f, n, c, dt)
GROUP BY 2, 3;
DROP TABLE agg_vehicle_days;
CREATE INDEX agg_vehicles_vehicle_idx ON agg_vehicles (vehicle_id, grain, period);
