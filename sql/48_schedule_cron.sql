-- 48_schedule_cron: the fire times of schedule expressions (src/cron.c),
-- computed deterministically by the internal duroxide._schedule_next_runs
-- (superusers only): steps, lists, names, the day-of-month / day-of-week
-- rule, month ends, February 29, @every, macros, and daylight saving in
-- Europe/Berlin and America/New_York (a skipped local time fires once at the
-- end of the gap; a repeated one fires once, at its first occurrence).
-- Times are shown in UTC and in the schedule's zone.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

CREATE SCHEMA sched48;
-- the next n fire times, in UTC and local time
CREATE FUNCTION sched48.runs(expr text, zone text, after timestamptz, n integer,
                             anchor timestamptz DEFAULT NULL)
RETURNS TABLE (utc text, local text)
LANGUAGE sql AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS Dy'),
           to_char(t AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI:SS Dy')
      FROM duroxide._schedule_next_runs(expr, zone, after, n, anchor) t
$$;
-- the SQLSTATE and message of a statement's error (NULL: none)
CREATE FUNCTION sched48.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- section: steps
SELECT * FROM sched48.runs('*/15 * * * *', 'UTC', '2026-03-01 10:07:30+00', 5);
SELECT * FROM sched48.runs('1-10/3 0 * * *', 'UTC', '2026-03-01 00:00:00+00', 5);
SELECT * FROM sched48.runs('5/20 8 * * *', 'UTC', '2026-03-01 00:00:00+00', 4);
-- exactly on a fire time: the next one is strictly after
SELECT * FROM sched48.runs('0 * * * *', 'UTC', '2026-03-01 10:00:00+00', 2);

-- section: lists, names (any case), 7 as Sunday
SELECT * FROM sched48.runs('0,30 9 * jan,JUL Mon-fri', 'UTC', '2026-06-30 12:00:00+00', 6);
SELECT * FROM sched48.runs('0 0 * * 7', 'UTC', '2026-03-01 12:00:00+00', 2);
SELECT * FROM sched48.runs('0 0 * * SUN', 'UTC', '2026-03-01 12:00:00+00', 2);
SELECT * FROM sched48.runs('0 0 * * 5-7', 'UTC', '2026-03-01 12:00:00+00', 4);

-- section: day of month OR day of week when both are restricted
SELECT * FROM sched48.runs('0 0 13 * FRI', 'UTC', '2026-02-01 00:00:00+00', 6);
-- only one restricted (the other starts with *): both must match
SELECT * FROM sched48.runs('0 0 13 * *', 'UTC', '2026-02-01 00:00:00+00', 2);
SELECT * FROM sched48.runs('0 0 * * FRI', 'UTC', '2026-02-01 00:00:00+00', 2);
SELECT * FROM sched48.runs('0 0 */10 * MON', 'UTC', '2026-02-01 00:00:00+00', 3);

-- section: month ends and February 29
SELECT * FROM sched48.runs('0 0 31 * *', 'UTC', '2026-01-15 00:00:00+00', 4);
SELECT * FROM sched48.runs('0 0 30 * *', 'UTC', '2026-01-15 00:00:00+00', 3);
SELECT * FROM sched48.runs('0 12 29 2 *', 'UTC', '2026-01-01 00:00:00+00', 3);
-- 2100 is no leap year
SELECT * FROM sched48.runs('0 0 29 2 *', 'UTC', '2096-03-01 00:00:00+00', 1);
-- a date that never occurs: no fire time at all
SELECT count(*) FROM sched48.runs('0 0 30 2 *', 'UTC', '2026-01-01 00:00:00+00', 3);

-- section: macros
SELECT * FROM sched48.runs('@daily', 'UTC', '2026-03-01 10:00:00+00', 2);
SELECT * FROM sched48.runs('@HOURLY', 'UTC', '2026-03-01 10:00:00+00', 2);
SELECT * FROM sched48.runs('@weekly', 'UTC', '2026-03-02 10:00:00+00', 1);
SELECT * FROM sched48.runs('@monthly', 'UTC', '2026-03-02 10:00:00+00', 1);
SELECT * FROM sched48.runs('@yearly', 'UTC', '2026-03-02 10:00:00+00', 1);

-- section: time zones: local wall-clock times
SELECT * FROM sched48.runs('0 9 * * *', 'Asia/Kolkata', '2026-03-01 00:00:00+00', 2);
SELECT * FROM sched48.runs('0 9 * * *', 'europe/berlin', '2026-03-01 00:00:00+00', 1);

-- section: Europe/Berlin spring forward (2026-03-29 02:00 CET -> 03:00 CEST)
-- 02:30 does not exist that night: it fires once, at 03:00 CEST (01:00 UTC)
SELECT * FROM sched48.runs('30 2 * * *', 'Europe/Berlin', '2026-03-27 12:00:00+00', 3);
-- every 20 minutes: 02:00, 02:20, 02:40 are skipped; one run at the gap's end
SELECT * FROM sched48.runs('*/20 * * * *', 'Europe/Berlin', '2026-03-29 00:30:00+00', 4);
-- 02:xx and 03:00 both fall on the gap's end: once
SELECT * FROM sched48.runs('0 2,3 * * *', 'Europe/Berlin', '2026-03-28 12:00:00+00', 3);

-- section: Europe/Berlin fall back (2026-10-25 03:00 CEST -> 02:00 CET)
-- 02:30 exists twice: it fires at the first (02:30 CEST, 00:30 UTC)
SELECT * FROM sched48.runs('30 2 * * *', 'Europe/Berlin', '2026-10-24 12:00:00+00', 3);
-- every 30 minutes: the repeated hour fires nothing
SELECT * FROM sched48.runs('*/30 * * * *', 'Europe/Berlin', '2026-10-24 23:50:00+00', 5);
-- starting inside the repeated hour (its second pass): no run of a time already passed
SELECT * FROM sched48.runs('*/30 * * * *', 'Europe/Berlin', '2026-10-25 01:10:00+00', 2);

-- section: America/New_York (2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST)
SELECT * FROM sched48.runs('30 2 * * *', 'America/New_York', '2026-03-07 00:00:00+00', 3);
SELECT * FROM sched48.runs('30 1 * * *', 'America/New_York', '2026-10-31 12:00:00+00', 3);
SELECT * FROM sched48.runs('0 * * * *', 'America/New_York', '2026-11-01 04:30:00+00', 3);

-- section: @every: fixed elapsed time from the anchor, whatever the zone
SELECT * FROM sched48.runs('@every 90 minutes', 'UTC', '2026-01-01 02:00:00+00', 3, '2026-01-01 00:00:00+00');
SELECT * FROM sched48.runs('@every 2 seconds', 'UTC', '2026-01-01 00:00:05+00', 3, '2026-01-01 00:00:00+00');
-- before the anchor's first interval: anchor + interval
SELECT * FROM sched48.runs('@every 1 hour', 'UTC', '2025-12-31 00:00:00+00', 1, '2026-01-01 00:00:00+00');
-- a day is 24 hours, also across a daylight-saving change
SELECT * FROM sched48.runs('@every 1 day', 'Europe/Berlin', '2026-03-28 00:00:00+00', 2, '2026-03-27 11:00:00+00');
SELECT * FROM sched48.runs('@EVERY 1 day 2 hours', 'UTC', '2026-01-01 00:00:00+00', 2, '2026-01-01 00:00:00+00');

-- section: invalid expressions name the field and the value (22023)
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('60 * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* 24 * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * 0 * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * 13 *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * FOO *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * * 8', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * * MONDAY', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('10-5 * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('*/0 * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('*/x * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('1,,2 * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('1-2-3 * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * * * *', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@fortnightly', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every banana', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every 1 month', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every 1 year', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every 0.5 seconds', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('@every -5 minutes', 'UTC', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * * *', 'Mars/Olympus_Mons', now(), 1)$$);
SELECT sched48.err($$SELECT duroxide._schedule_next_runs('* * * * *', '', now(), 1)$$);
-- with its detail
\set VERBOSITY default
SELECT duroxide._schedule_next_runs('0 0 * * 8', 'UTC', now(), 1);
SELECT duroxide._schedule_next_runs('@every 1 mon', 'UTC', now(), 1);

-- section: internal: not executable by PUBLIC
SELECT has_function_privilege('public', 'duroxide._schedule_next_runs(text, text, timestamptz, integer, timestamptz)', 'EXECUTE') AS public_may_compute,
       has_function_privilege('duroxide_user', 'duroxide._schedule_next_runs(text, text, timestamptz, integer, timestamptz)', 'EXECUTE') AS user_may_compute;

DROP SCHEMA sched48 CASCADE;
RESET TimeZone;
