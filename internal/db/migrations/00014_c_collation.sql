-- The data's text columns compare by byte, as docs/api.md orders strings (by
-- Unicode code point: UTF-8's byte order), whatever collation the database
-- was created with. Under a linguistic one (en_US.UTF-8, the default of
-- the postgres image docker-compose.yml runs), every key comparison went
-- through the collation library: at 10M shipments, on an ICU en-US
-- database, haul ingest of the shipments took 29-40 s (median 34.8 s)
-- against 23-34 s (28.3 s) once migrated, and a refresh of 1% more
-- 5.4-5.6 s against 4.5-4.8 s, for orders that no answer uses. A collation change rewrites no
-- table, but rebuilds the indexes on these columns under an ACCESS
-- EXCLUSIVE lock: 8-9 s at 10M shipments (docs/operations.md). The runs'
-- bookkeeping keeps the database's collation.

-- +goose Up
ALTER TABLE vehicles
    ALTER COLUMN vehicle_id TYPE text COLLATE "C",
    ALTER COLUMN name TYPE text COLLATE "C";
ALTER TABLE vehicle_logs
    ALTER COLUMN log_id TYPE text COLLATE "C",
    ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE shipments
    ALTER COLUMN shipment_id TYPE text COLLATE "C",
    ALTER COLUMN origin TYPE text COLLATE "C",
    ALTER COLUMN destination TYPE text COLLATE "C",
    ALTER COLUMN log_id TYPE text COLLATE "C",
    ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE agg_routes
    ALTER COLUMN origins TYPE text[] COLLATE "C",
    ALTER COLUMN destinations TYPE text[] COLLATE "C";
ALTER TABLE agg_route_totals
    ALTER COLUMN origin TYPE text COLLATE "C",
    ALTER COLUMN destination TYPE text COLLATE "C";
ALTER TABLE agg_route_vehicles
    ALTER COLUMN origin TYPE text COLLATE "C",
    ALTER COLUMN destination TYPE text COLLATE "C",
    ALTER COLUMN vehicle_ids TYPE text[] COLLATE "C";
ALTER TABLE agg_vehicles
    ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE agg_vehicle_days
    ALTER COLUMN vehicle_id TYPE text COLLATE "C";
ALTER TABLE agg_vehicle_routes
    ALTER COLUMN vehicle_id TYPE text COLLATE "C",
    ALTER COLUMN origins TYPE text[] COLLATE "C",
    ALTER COLUMN destinations TYPE text[] COLLATE "C";
ALTER TABLE agg_vehicle_info
    ALTER COLUMN vehicle_id TYPE text COLLATE "C",
    ALTER COLUMN name TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE vehicles
    ALTER COLUMN vehicle_id TYPE text COLLATE "default",
    ALTER COLUMN name TYPE text COLLATE "default";
ALTER TABLE vehicle_logs
    ALTER COLUMN log_id TYPE text COLLATE "default",
    ALTER COLUMN vehicle_id TYPE text COLLATE "default";
ALTER TABLE shipments
    ALTER COLUMN shipment_id TYPE text COLLATE "default",
    ALTER COLUMN origin TYPE text COLLATE "default",
    ALTER COLUMN destination TYPE text COLLATE "default",
    ALTER COLUMN log_id TYPE text COLLATE "default",
    ALTER COLUMN vehicle_id TYPE text COLLATE "default";
ALTER TABLE agg_routes
    ALTER COLUMN origins TYPE text[] COLLATE "default",
    ALTER COLUMN destinations TYPE text[] COLLATE "default";
ALTER TABLE agg_route_totals
    ALTER COLUMN origin TYPE text COLLATE "default",
    ALTER COLUMN destination TYPE text COLLATE "default";
ALTER TABLE agg_route_vehicles
    ALTER COLUMN origin TYPE text COLLATE "default",
    ALTER COLUMN destination TYPE text COLLATE "default",
    ALTER COLUMN vehicle_ids TYPE text[] COLLATE "default";
ALTER TABLE agg_vehicles
    ALTER COLUMN vehicle_id TYPE text COLLATE "default";
ALTER TABLE agg_vehicle_days
    ALTER COLUMN vehicle_id TYPE text COLLATE "default";
ALTER TABLE agg_vehicle_routes
    ALTER COLUMN vehicle_id TYPE text COLLATE "default",
    ALTER COLUMN origins TYPE text[] COLLATE "default",
    ALTER COLUMN destinations TYPE text[] COLLATE "default";
ALTER TABLE agg_vehicle_info
    ALTER COLUMN vehicle_id TYPE text COLLATE "default",
    ALTER COLUMN name TYPE text COLLATE "default";
