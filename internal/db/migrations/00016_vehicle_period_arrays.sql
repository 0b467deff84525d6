-- A vehicle's month and year figures were a row of agg_vehicles each: 195k
-- rows at 10M shipments (52 MB with the key), and a refresh upserted one
-- per vehicle and month or year the new rows touch, 58k of them for 100k
-- new shipments spread over every day (0.3-0.4 s) and 184k for 1M (1.3-1.7
-- s). Now a month's or a year's figures are one row, an element per vehicle
-- with a log or a shipment in it, in vehicle order (by byte), as the other
-- array rollups keep theirs: 39 rows (6 MB), which a refresh rewrites whole
-- for the periods it touches (75 ms for all of them), and which a window
-- reads a row per month or year instead of a row per vehicle. They are
-- rewritten, not updated in place: the room migration 00011 left in pages
-- is dropped.

-- +goose Up
ALTER TABLE agg_vehicles RENAME TO agg_vehicle_rows;
ALTER INDEX agg_vehicles_pkey RENAME TO agg_vehicle_rows_pkey;
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
SELECT grain, period, array_agg(vehicle_id ORDER BY vehicle_id), array_agg(trips ORDER BY vehicle_id),
       array_agg(mileage ORDER BY vehicle_id), array_agg(fuel ORDER BY vehicle_id),
       array_agg(shipments ORDER BY vehicle_id), array_agg(sum_cost ORDER BY vehicle_id),
       array_agg(sum_dt ORDER BY vehicle_id)
FROM agg_vehicle_rows
GROUP BY 1, 2;
DROP TABLE agg_vehicle_rows;

-- +goose Down
ALTER TABLE agg_vehicles RENAME TO agg_vehicle_periods;
ALTER INDEX agg_vehicles_pkey RENAME TO agg_vehicle_periods_pkey;
CREATE TABLE agg_vehicles (
    grain      smallint         NOT NULL,
    period     date             NOT NULL,
    vehicle_id text COLLATE "C" NOT NULL,
    trips      bigint           NOT NULL,
    mileage    double precision NOT NULL,
    fuel       double precision NOT NULL,
    shipments  bigint           NOT NULL,
    sum_cost   double precision NOT NULL,
    sum_dt     bigint           NOT NULL,
    PRIMARY KEY (grain, period, vehicle_id)
) WITH (fillfactor = 70);
INSERT INTO agg_vehicles
SELECT grain, period, v, t, m, f, n, c, dt
FROM agg_vehicle_periods, unnest(vehicle_ids, trips, mileage, fuel, shipments, sum_cost, sum_dt) AS u(v, t, m, f, n, c, dt);
DROP TABLE agg_vehicle_periods;
