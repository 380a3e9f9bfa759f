-- examples/node/fanout.sql -- the orchestration of examples/node/fanout.js.
--
-- PriceBasket fans out one FetchPrice activity per item of the basket, all
-- at once, then waits for all of them and adds the prices up.  FetchPrice is
-- an external activity: a JavaScript function in fanout.js that asks an
-- HTTP price service.  Each call has a retry policy, so a service that
-- answers 503 now and then only costs a retry.
--
--   input:  {"basket": ["apple", "pear", ...]}
--   output: {"total": 12.5, "prices": [{"item": "apple", "price": 1.2, ...}, ...]}

CREATE SCHEMA IF NOT EXISTS duroxide_examples;

CREATE OR REPLACE FUNCTION duroxide_examples.price_basket(ctx duroxide.context, input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tasks  duroxide.task[] := '{}';
    item   text;
    prices jsonb;
BEGIN
    -- 1. schedule every call first: they run in parallel on the workers
    FOR item IN SELECT jsonb_array_elements_text(input->'basket') LOOP
        tasks := tasks || duroxide.schedule_activity_with_retry(ctx, 'FetchPrice',
            jsonb_build_object('item', item),
            '{"maxAttempts": 3, "backoff": "fixed", "initialDelayMs": 50, "timeoutMs": 10000}');
    END LOOP;
    -- 2. then wait for all of them (results in argument order)
    prices := duroxide.await_all(tasks);
    RETURN jsonb_build_object(
        'total', (SELECT round(sum((p->>'price')::numeric), 2) FROM jsonb_array_elements(prices) p),
        'prices', prices);
END
$$;

SELECT duroxide.register_orchestration('PriceBasket', 'duroxide_examples.price_basket');
-- FetchPrice itself is registered as external by the worker (fanout.js) when it starts
