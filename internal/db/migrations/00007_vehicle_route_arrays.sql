-- A vehicle's day on a route was a row of agg_vehicle_routes, with two
-- indexes on text keys: about one row per shipment with haul gen's data,
-- 1.95 GB of the rollups' 4.3 GB at 10M shipments, and an index upsert per
-- new shipment in a refresh (issue 14). The same figures are kept as arrays,
-- one row per vehicle and year and one per route, so a refresh appends rows
-- instead of updating one per shipment.
--
-- segment: 0 for the rows a full rebuild writes; a refresh appends its rows
-- with the number of the last batch it adds (docs/architecture.md,
-- "Aggregates"). A row's figures are added to the other segments' of its
-- key: readers add them up. The i-th elements of a row's arrays are one day
-- of the vehicle on the route.

-- +goose Up
CREATE TABLE agg_vehicle_route_days (
    vehicle_id   text               NOT NULL,
    period       date               NOT NULL, -- January 1st of the days' year
    segment      bigint             NOT NULL,
    days         date[]             NOT NULL,
    origins      text[]             NOT NULL,
    destinations text[]             NOT NULL,
    -- logs carrying at least one shipment of the route that day
    trips        integer[]          NOT NULL,
    shipments    integer[]          NOT NULL,
    sum_cost     double precision[] NOT NULL,
    sum_dt       bigint[]           NOT NULL,
    PRIMARY KEY (vehicle_id, period, segment)
);
INSERT INTO agg_vehicle_route_days
SELECT vehicle_id, date_trunc('year', period)::date, 0,
       array_agg(period ORDER BY period, origin, destination),
       array_agg(origin ORDER BY period, origin, destination),
       array_agg(destination ORDER BY period, origin, destination),
       array_agg(trips::integer ORDER BY period, origin, destination),
       array_agg(shipments::integer ORDER BY period, origin, destination),
       array_agg(sum_cost ORDER BY period, origin, destination),
       array_agg(sum_dt ORDER BY period, origin, destination)
FROM agg_vehicle_routes
GROUP BY 1, 2;

-- A route's vehicles by day, over all time: a route's distinct vehicles in
-- a window, and whether a vehicle carries the route for the first time.
CREATE TABLE agg_route_vehicles (
    origin      text   NOT NULL,
    destination text   NOT NULL,
    segment     bigint NOT NULL,
    days        date[] NOT NULL,
    vehicle_ids text[] NOT NULL,
    PRIMARY KEY (origin, destination, segment)
);
INSERT INTO agg_route_vehicles
SELECT origin, destination, 0,
       array_agg(period ORDER BY vehicle_id, period),
       array_agg(vehicle_id ORDER BY vehicle_id, period)
FROM agg_vehicle_routes
GROUP BY 1, 2;

DROP TABLE agg_vehicle_routes;
ALTER TABLE agg_vehicle_route_days RENAME TO agg_vehicle_routes;
ALTER INDEX agg_vehicle_route_days_pkey RENAME TO agg_vehicle_routes_pkey;

-- +goose Down
CREATE TABLE agg_vehicle_route_rows (
    vehicle_id  text             NOT NULL,
    period      date             NOT NULL,
    origin      text             NOT NULL,
    destination text             NOT NULL,
    trips       bigint           NOT NULL,
    shipments   bigint           NOT NULL,
    sum_cost    double precision NOT NULL,
    sum_dt      bigint           NOT NULL,
    PRIMARY KEY (vehicle_id, period, origin, destination)
);
INSERT INTO agg_vehicle_route_rows
SELECT vehicle_id, d, o, de, sum(t), sum(n), sum(c), sum(dt)
FROM agg_vehicle_routes, unnest(days, origins, destinations, trips, shipments, sum_cost, sum_dt) AS u(d, o, de, t, n, c, dt)
GROUP BY 1, 2, 3, 4;
DROP TABLE agg_vehicle_routes;
DROP TABLE agg_route_vehicles;
ALTER TABLE agg_vehicle_route_rows RENAME TO agg_vehicle_routes;
ALTER INDEX agg_vehicle_route_rows_pkey RENAME TO agg_vehicle_routes_pkey;
CREATE INDEX agg_vehicle_routes_route_idx ON agg_vehicle_routes (origin, destination, vehicle_id);
