-- Raw tables: one row per accepted input record (docs/data.md#2-datasets and 3).
--
-- Foreign keys are deliberately absent: PostgreSQL checks them with a trigger
-- per row during COPY, while ingest checks references set-based after each
-- batch (docs/architecture.md#decisions, "Set-based integrity") and rejects orphans with a reason.

-- +goose Up
CREATE TABLE vehicles (
    vehicle_id    text             PRIMARY KEY CHECK (char_length(vehicle_id) BETWEEN 1 AND 64),
    name          text             NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    total_mileage double precision NOT NULL CHECK (total_mileage >= 0 AND total_mileage < 1e15)
);

CREATE TABLE vehicle_logs (
    log_id     text             PRIMARY KEY CHECK (char_length(log_id) BETWEEN 1 AND 64),
    vehicle_id text             NOT NULL CHECK (char_length(vehicle_id) BETWEEN 1 AND 64),
    trip_date  date             NOT NULL,
    mileage    double precision NOT NULL CHECK (mileage >= 0 AND mileage < 1e15),
    fuel_used  double precision NOT NULL CHECK (fuel_used >= 0 AND fuel_used < 1e15)
);
CREATE INDEX vehicle_logs_trip_date_idx ON vehicle_logs (trip_date);

-- trip_date and vehicle_id are copied from the shipment's log at load time
-- (docs/data.md#23-shipments): a log never changes once loaded, so the copy cannot go stale,
-- and the rollups group shipments by day and vehicle without a join.
CREATE TABLE shipments (
    shipment_id   text             PRIMARY KEY CHECK (char_length(shipment_id) BETWEEN 1 AND 64),
    origin        text             NOT NULL CHECK (char_length(origin) BETWEEN 1 AND 100),
    destination   text             NOT NULL CHECK (char_length(destination) BETWEEN 1 AND 100),
    weight        double precision NOT NULL CHECK (weight > 0 AND weight < 1e15),
    cost          double precision NOT NULL CHECK (cost > 0 AND cost < 1e15),
    delivery_time integer          NOT NULL CHECK (delivery_time > 0),
    log_id        text             NOT NULL CHECK (char_length(log_id) BETWEEN 1 AND 64),
    trip_date     date             NOT NULL,
    vehicle_id    text             NOT NULL
);
CREATE INDEX shipments_trip_date_idx ON shipments (trip_date);

-- +goose Down
DROP TABLE shipments;
DROP TABLE vehicle_logs;
DROP TABLE vehicles;
