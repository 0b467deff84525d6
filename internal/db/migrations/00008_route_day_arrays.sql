-- agg_routes held a row per (day, route, delivery time), about one per
-- shipment with haul gen's data, and year rows beside them: 1.8 GB at 10M
-- shipments, with a refresh that rewrote every (day, route) group new rows
-- touched, to set on_time_day against the group's new mean (issue 14). A
-- day's entries are kept as arrays in one row per day instead, a refresh
-- appends a segment (see 00007), and on_time_day is no longer stored: the
-- readers count it from the day's entries, which they read whole.
--
-- The i-th elements of a row's arrays are one (route, delivery time) of the
-- day: its shipments and their sums.

-- +goose Up
CREATE TABLE agg_route_days (
    period         date               NOT NULL,
    segment        bigint             NOT NULL,
    origins        text[]             NOT NULL,
    destinations   text[]             NOT NULL,
    delivery_times integer[]          NOT NULL,
    shipments      integer[]          NOT NULL,
    sum_cost       double precision[] NOT NULL,
    sum_weight     double precision[] NOT NULL,
    -- Σ cost/weight and Σ cost/delivery_time over single shipments
    sum_cpk        double precision[] NOT NULL,
    sum_cpt        double precision[] NOT NULL,
    PRIMARY KEY (period, segment)
);
INSERT INTO agg_route_days
SELECT period, 0,
       array_agg(origin ORDER BY origin, destination, delivery_time),
       array_agg(destination ORDER BY origin, destination, delivery_time),
       array_agg(delivery_time ORDER BY origin, destination, delivery_time),
       array_agg(shipments::integer ORDER BY origin, destination, delivery_time),
       array_agg(sum_cost ORDER BY origin, destination, delivery_time),
       array_agg(sum_weight ORDER BY origin, destination, delivery_time),
       array_agg(sum_cpk ORDER BY origin, destination, delivery_time),
       array_agg(sum_cpt ORDER BY origin, destination, delivery_time)
FROM agg_routes
WHERE grain = 0
GROUP BY period;
DROP TABLE agg_routes;
ALTER TABLE agg_route_days RENAME TO agg_routes;
ALTER INDEX agg_route_days_pkey RENAME TO agg_routes_pkey;

-- +goose Down
CREATE TABLE agg_route_rows (
    grain         smallint         NOT NULL,
    period        date             NOT NULL,
    origin        text             NOT NULL,
    destination   text             NOT NULL,
    delivery_time integer          NOT NULL,
    shipments     bigint           NOT NULL,
    sum_cost      double precision NOT NULL,
    sum_weight    double precision NOT NULL,
    sum_cpk       double precision NOT NULL,
    sum_cpt       double precision NOT NULL,
    on_time_day   bigint           NOT NULL
);
INSERT INTO agg_route_rows
SELECT 0, period, o, de, dt, n, c, w, cpk, cpt,
       CASE WHEN dt * sum(n) OVER g <= sum(dt::bigint * n) OVER g THEN n ELSE 0 END
FROM (SELECT period, o, de, dt, sum(n) AS n, sum(c) AS c, sum(w) AS w, sum(cpk) AS cpk, sum(cpt) AS cpt
      FROM agg_routes,
           unnest(origins, destinations, delivery_times, shipments, sum_cost, sum_weight, sum_cpk, sum_cpt)
           AS u(o, de, dt, n, c, w, cpk, cpt)
      GROUP BY 1, 2, 3, 4) x
WINDOW g AS (PARTITION BY period, o, de);
INSERT INTO agg_route_rows
SELECT 2, date_trunc('year', period)::date, origin, destination, delivery_time, sum(shipments), sum(sum_cost),
       sum(sum_weight), sum(sum_cpk), sum(sum_cpt), sum(on_time_day)
FROM agg_route_rows
GROUP BY 2, 3, 4, 5;
DROP TABLE agg_routes;
ALTER TABLE agg_route_rows RENAME TO agg_routes;
CREATE INDEX agg_routes_period_idx ON agg_routes (grain, period, origin);
CREATE UNIQUE INDEX agg_routes_year_key ON agg_routes (period, origin, destination, delivery_time) WHERE grain = 2;
