-- What a refresh keeps beside the rollups to spare lookups in them
-- (jobs/precalc/state.go), a row per kind:
--   route_vehicle_filter  a Bloom filter of the (route, vehicle) pairs
--                         agg_route_vehicles holds: only the new pairs it
--                         may have are looked up there, to count a route's
--                         distinct vehicles;
--   vehicle_ship_days     the days each vehicle carried a shipment on, as
--                         agg_vehicle_days holds them: whether a vehicle
--                         carries its first shipment of a day is read there
--                         instead of in agg_vehicle_days.
-- The rebuild writes them and each refresh adds its rows, in the
-- transaction that publishes the version, and a row is used only for the
-- version it was written with: one an older haul published without it is
-- ignored. Until the next rebuild there are none, and a refresh looks
-- everything up in the rollups, as before.

-- +goose Up
CREATE TABLE precalc_refresh_state (
    name    text   PRIMARY KEY,
    -- the data version (precalc_state) it describes
    version bigint NOT NULL,
    data    bytea  NOT NULL
);
-- Mostly random bits, which do not compress: stored out of line as they are.
ALTER TABLE precalc_refresh_state ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE precalc_refresh_state;
