-- A refresh appends the new pairs of a route and a vehicle (by day) to
-- agg_origin_vehicles, a row per origin with an element per entry, instead
-- of a row per route to agg_route_vehicles: new rows spread over every day
-- touch most routes, and at 10M shipments a refresh of 1M new ones wrote
-- 89k such rows (0.42-0.66 s), one of 100k 47k (0.15-0.21 s), against 300
-- by origin. An origin's rows are folded into its routes' rows of
-- agg_route_vehicles once there are more than eight; readers of a route
-- take its rows there and its entries in its origin's rows here. Rows the
-- refreshes appended to agg_route_vehicles before stay there.

-- +goose Up
CREATE TABLE agg_origin_vehicles (
    origin       text COLLATE "C"   NOT NULL,
    segment      bigint             NOT NULL,
    destinations text[] COLLATE "C" NOT NULL,
    days         date[]             NOT NULL,
    vehicle_ids  text[] COLLATE "C" NOT NULL,
    PRIMARY KEY (origin, segment)
);

-- +goose Down
INSERT INTO agg_route_vehicles (origin, destination, segment, days, vehicle_ids)
SELECT origin, de, segment, array_agg(d ORDER BY d, v), array_agg(v ORDER BY d, v)
FROM agg_origin_vehicles, unnest(destinations, days, vehicle_ids) AS u(de, d, v)
GROUP BY 1, 2, 3;
DROP TABLE agg_origin_vehicles;
