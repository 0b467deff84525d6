-- The length CHECKs on vehicle_logs' and shipments' text columns go. Ingest
-- checks every record against docs/data.md before its COPY
-- (jobs/ingest/fieldvalue.go) and is the tables' only writer, while
-- PostgreSQL evaluated each CHECK per row: with them, haul loaded shipments
-- at 0.69-0.78 of psql's rate into a key-only table, without them at
-- 0.89-0.93 (make bench-ingest, 2M shipments). The numeric CHECKs stay, as
-- the last line of defence of the figures the API sums and divides by
-- (weight, delivery time); so do the vehicles' CHECKs, a few thousand rows.

-- +goose Up
ALTER TABLE vehicle_logs
    DROP CONSTRAINT vehicle_logs_log_id_check,
    DROP CONSTRAINT vehicle_logs_vehicle_id_check;
ALTER TABLE shipments
    DROP CONSTRAINT shipments_shipment_id_check,
    DROP CONSTRAINT shipments_origin_check,
    DROP CONSTRAINT shipments_destination_check,
    DROP CONSTRAINT shipments_log_id_check;

-- +goose Down
-- NOT VALID: the rows stored meanwhile are not read again (ingest checked them).
ALTER TABLE vehicle_logs
    ADD CONSTRAINT vehicle_logs_log_id_check CHECK (char_length(log_id) BETWEEN 1 AND 64) NOT VALID,
    ADD CONSTRAINT vehicle_logs_vehicle_id_check CHECK (char_length(vehicle_id) BETWEEN 1 AND 64) NOT VALID;
ALTER TABLE shipments
    ADD CONSTRAINT shipments_shipment_id_check CHECK (char_length(shipment_id) BETWEEN 1 AND 64) NOT VALID,
    ADD CONSTRAINT shipments_origin_check CHECK (char_length(origin) BETWEEN 1 AND 100) NOT VALID,
    ADD CONSTRAINT shipments_destination_check CHECK (char_length(destination) BETWEEN 1 AND 100) NOT VALID,
    ADD CONSTRAINT shipments_log_id_check CHECK (char_length(log_id) BETWEEN 1 AND 64) NOT VALID;
