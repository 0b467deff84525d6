-- The Bloom filter of the (route, vehicle) pairs agg_route_vehicles holds
-- (route_vehicle_filter, migration 00013) gives way to each route's
-- vehicles, exactly (route_vehicle_sets, jobs/precalc/routevehicles.go): a
-- refresh counts a route's new vehicles in memory instead of looking up the
-- pairs the filter may have. The filter's row goes; the first refresh or
-- rebuild after this makes the sets (a refresh, with one scan of
-- agg_route_vehicles).

-- +goose Up
DELETE FROM precalc_refresh_state WHERE name = 'route_vehicle_filter';

-- +goose Down
-- An older haul looks every pair up until its next rebuild writes a filter.
DELETE FROM precalc_refresh_state WHERE name = 'route_vehicle_sets';
