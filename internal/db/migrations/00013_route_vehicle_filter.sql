-- A Bloom filter of the (route, vehicle) pairs agg_route_vehicles holds
-- (jobs/precalc/pairfilter.go): a refresh looks up in agg_route_vehicles
-- only the new rows' pairs the filter may have, to count a route's
-- distinct vehicles. The rebuild writes it and each refresh adds its
-- pairs, in the transaction that publishes the version, and it is used only
-- for the version it was written with: one an older haul published without
-- it is ignored. Until the next rebuild there is none, and a refresh looks
-- every pair up, as before.

-- +goose Up
CREATE TABLE precalc_route_vehicle_filter (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- the data version (precalc_state) whose pairs it holds
    version bigint  NOT NULL,
    -- pairs added, counting repeats
    pairs   bigint  NOT NULL,
    -- blocks of 512 bits, little-endian 64-bit words
    bits    bytea   NOT NULL
);
-- Random bits do not compress: stored out of line as they are.
ALTER TABLE precalc_route_vehicle_filter ALTER COLUMN bits SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE precalc_route_vehicle_filter;
