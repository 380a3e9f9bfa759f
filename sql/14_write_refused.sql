-- 14_write_refused: orchestration code cannot write to the database; an
-- activity's writes commit together with its recorded result.
\set SHOW_CONTEXT never
CREATE SCHEMA wr;
CREATE TABLE wr.orders (id serial PRIMARY KEY, instance_id text, item text);
CREATE SEQUENCE wr.seq;

-- writes what input.do says from the orchestration itself
CREATE FUNCTION wr.writer(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF input->>'do' = 'insert' THEN
        INSERT INTO wr.orders (instance_id, item) VALUES (ctx.instance_id, 'from orchestration');
    ELSIF input->>'do' = 'update' THEN
        UPDATE wr.orders SET item = 'changed';
    ELSIF input->>'do' = 'delete' THEN
        DELETE FROM wr.orders;
    ELSIF input->>'do' = 'nextval' THEN
        PERFORM nextval('wr.seq');
    ELSIF input->>'do' = 'ddl' THEN
        CREATE TABLE wr.created_by_orchestration (a int);
    END IF;
    RETURN '"wrote"';
END
$$;
SELECT duroxide.register_orchestration('WrWriter', 'wr.writer');

-- section: a write in orchestration code fails the instance with advice
SELECT duroxide.start_orchestration('wr-1', 'WrWriter', '{"do": "insert"}');
SELECT status, output, error FROM duroxide.wait_for_orchestration('wr-1');
SELECT status, error LIKE '%move the write into an activity%' AS advice
  FROM duroxide.get_orchestration_status('wr-1');
SELECT count(*) FROM wr.orders;

-- section: UPDATE, DELETE, nextval and DDL are refused the same way
INSERT INTO wr.orders (instance_id, item) VALUES ('client', 'keep me');
SELECT duroxide.start_orchestration('wr-2', 'WrWriter', '{"do": "update"}');
SELECT duroxide.start_orchestration('wr-3', 'WrWriter', '{"do": "delete"}');
SELECT duroxide.start_orchestration('wr-4', 'WrWriter', '{"do": "nextval"}');
SELECT duroxide.start_orchestration('wr-5', 'WrWriter', '{"do": "ddl"}');
SELECT s.instance_id, s.status, s.error
  FROM unnest(ARRAY['wr-2', 'wr-3', 'wr-4', 'wr-5']) AS u(id),
       LATERAL duroxide.wait_for_orchestration(u.id) AS s
 ORDER BY 1;
SELECT instance_id, item FROM wr.orders ORDER BY id;
SELECT nextval('wr.seq');
SELECT to_regclass('wr.created_by_orchestration');

-- section: an activity's writes commit together with its result
CREATE FUNCTION wr.place_order(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    new_id int;
BEGIN
    INSERT INTO wr.orders (instance_id, item) VALUES (ctx.instance_id, input->>'item')
    RETURNING id INTO new_id;
    IF input ? 'fail' THEN
        RAISE EXCEPTION 'order % rejected after insert', input->>'item';
    END IF;
    RETURN jsonb_build_object('item', input->>'item', 'stored', new_id IS NOT NULL);
END
$$;
-- the same as a procedure
CREATE PROCEDURE wr.place_order_proc(ctx duroxide.activity_context, INOUT result jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wr.orders (instance_id, item) VALUES (ctx.instance_id, result->>'item');
    IF result ? 'fail' THEN
        RAISE EXCEPTION 'procedure rejected %', result->>'item';
    END IF;
    result := jsonb_build_object('item', result->>'item', 'by', 'procedure');
END
$$;
SELECT duroxide.register_activity('WrPlaceOrder', 'wr.place_order');
SELECT duroxide.register_activity('WrPlaceOrderProc', 'wr.place_order_proc');
CREATE FUNCTION wr.shop(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_activity(ctx, coalesce(input->>'activity', 'WrPlaceOrder'), input->'order');
END
$$;
SELECT duroxide.register_orchestration('WrShop', 'wr.shop');

SELECT duroxide.start_orchestration('wr-6', 'WrShop', '{"order": {"item": "book"}}');
SELECT status, output FROM duroxide.wait_for_orchestration('wr-6');
SELECT instance_id, item FROM wr.orders WHERE instance_id = 'wr-6';

SELECT duroxide.start_orchestration('wr-7', 'WrShop',
    '{"activity": "WrPlaceOrderProc", "order": {"item": "lamp"}}');
SELECT status, output FROM duroxide.wait_for_orchestration('wr-7');
SELECT instance_id, item FROM wr.orders WHERE instance_id = 'wr-7';

-- section: an activity that writes and then raises leaves no row
SELECT duroxide.start_orchestration('wr-8', 'WrShop', '{"order": {"item": "vase", "fail": true}}');
SELECT status, error FROM duroxide.wait_for_orchestration('wr-8');
SELECT count(*) FROM wr.orders WHERE instance_id = 'wr-8';
SELECT duroxide.start_orchestration('wr-9', 'WrShop',
    '{"activity": "WrPlaceOrderProc", "order": {"item": "rug", "fail": true}}');
SELECT status, error FROM duroxide.wait_for_orchestration('wr-9');
SELECT count(*) FROM wr.orders WHERE instance_id = 'wr-9';

-- section: reads are fine in orchestration code
CREATE FUNCTION wr.reader(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT jsonb_agg(item ORDER BY id) FROM wr.orders);
END
$$;
SELECT duroxide.register_orchestration('WrReader', 'wr.reader');
SELECT duroxide.start_orchestration('wr-10', 'WrReader');
SELECT status, output FROM duroxide.wait_for_orchestration('wr-10');

CALL regress.settle();
SELECT * FROM duroxide.get_queue_depths();
