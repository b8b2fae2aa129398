-- What each replica measured for each version, cumulative since that replica process started
-- (its incarnation), replaced a few times a second: the controller sums them for analysis.
CREATE TABLE fleet_windows (
    replica TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    doc TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (replica, service, version));
