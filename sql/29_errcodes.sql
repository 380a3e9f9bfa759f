-- 29_errcodes: user-reachable errors of the C code carry a specific
-- SQLSTATE (never XX000, internal_error) and name what they concern.
\set SHOW_CONTEXT never
\set VERBOSITY sqlstate

-- section: the example C activity called by hand without its context (22004)
SELECT duroxide._c_example_activity(NULL, '{}');

-- section: a C activity's input nested deeper than json-c reads (54000)
SELECT duroxide._c_example_activity(
    ROW('i', 1, 'O', '1.0.0', 'CExample', 1, 1, 'w')::duroxide.activity_context,
    (repeat('[', 40) || repeat(']', 40))::jsonb);

-- section: the same errors with their messages and hints
\set VERBOSITY default
SELECT duroxide._c_example_activity(NULL, '{}');
SELECT duroxide._c_example_activity(
    ROW('i', 1, 'O', '1.0.0', 'CExample', 1, 1, 'w')::duroxide.activity_context,
    (repeat('[', 40) || repeat(']', 40))::jsonb);

-- section: a C activity's input within the limit works
SELECT duroxide._c_example_activity(
    ROW('i', 1, 'O', '1.0.0', 'CExample', 1, 1, 'w')::duroxide.activity_context,
    (repeat('[', 20) || repeat(']', 20))::jsonb) ->> 'via' AS via;
