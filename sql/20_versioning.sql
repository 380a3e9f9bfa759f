\set SHOW_CONTEXT never
-- Versioning: several versions side by side, semantic order, pinned running
-- instances, continue_as_new moving to the newest (or a given) version.
CREATE SCHEMA ver;

-- section: semantic version order (1.0.10 > 1.0.9)
CREATE FUNCTION ver.v(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('version', ctx.orchestration_version, 'execution', ctx.execution_id);
END $$;
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', '1.0.9');
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', '1.0.10');
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', '1.0.2');
SELECT duroxide.start_orchestration('ver-order', 'VerOrder');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-order', 10000);
-- an explicit version
SELECT duroxide.start_orchestration('ver-explicit', 'VerOrder', NULL, '1.0.9');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-explicit', 10000);
-- unknown version, bad version strings
SELECT duroxide.start_orchestration('ver-unknown', 'VerOrder', NULL, '9.9.9');
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', 'v1');
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', '1..0');
SELECT duroxide.register_orchestration('VerOrder', 'ver.v', '');

-- section: a running instance stays on its version
-- 1.0.0 waits for an event, then finishes or continues as new
CREATE FUNCTION ver.v1(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
BEGIN
    e := duroxide.wait_for_event(ctx, 'go');
    IF e->>'action' = 'continue' THEN
        PERFORM duroxide.continue_as_new(ctx, jsonb_build_object('from', ctx.orchestration_version));
    END IF;
    RETURN jsonb_build_object('ran', 'v1', 'version', ctx.orchestration_version);
END $$;
CREATE FUNCTION ver.v2(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('ran', 'v2', 'version', ctx.orchestration_version,
                              'execution', ctx.execution_id, 'input', input);
END $$;
SELECT duroxide.register_orchestration('Versioned', 'ver.v1', '1.0.0');
SELECT duroxide.start_orchestration('ver-a1', 'Versioned');
SELECT duroxide.start_orchestration('ver-a2', 'Versioned');
-- both wait on 1.0.0; now 1.0.1 appears
SELECT orchestration_version, status FROM duroxide.get_orchestration_status('ver-a1');
SELECT duroxide.register_orchestration('Versioned', 'ver.v2', '1.0.1');
SELECT duroxide.start_orchestration('ver-b', 'Versioned');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-b', 10000);
-- A1 completes on 1.0.0
SELECT duroxide.raise_event('ver-a1', 'go', '{"action": "finish"}');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-a1', 10000);
-- A2 continues as new and moves to 1.0.1
SELECT duroxide.raise_event('ver-a2', 'go', '{"action": "continue"}');
SELECT status, orchestration_version, execution_id, output
  FROM duroxide.wait_for_orchestration('ver-a2', 10000);
SELECT instance_id, execution_id, orchestration_version, status
  FROM duroxide.executions WHERE instance_id = 'ver-a2' ORDER BY execution_id;

-- section: sub-orchestrations and detached starts take a version
CREATE FUNCTION ver.parent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
BEGIN
    c := duroxide.call_sub_orchestration(ctx, 'VerOrder', NULL, 'ver-child', '1.0.2');
    PERFORM duroxide.start_orchestration_detached(ctx, 'VerOrder', 'ver-detached', NULL, '1.0.9');
    RETURN c;
END $$;
SELECT duroxide.register_orchestration('VerParent', 'ver.parent');
SELECT duroxide.start_orchestration('ver-parent', 'VerParent');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-parent', 10000);
SELECT status, output FROM duroxide.wait_for_orchestration('ver-detached', 10000);
-- a child version that does not exist fails the parent clearly
CREATE FUNCTION ver.badparent(ctx duroxide.context, input jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN duroxide.call_sub_orchestration(ctx, 'VerOrder', NULL, NULL, '7.0.0');
END $$;
SELECT duroxide.register_orchestration('VerBadParent', 'ver.badparent');
SELECT duroxide.start_orchestration('ver-badparent', 'VerBadParent');
SELECT status, error FROM duroxide.wait_for_orchestration('ver-badparent', 10000);

-- section: unregistering one version keeps the others
SELECT duroxide.unregister_orchestration('VerOrder', '1.0.10');
SELECT duroxide.start_orchestration('ver-after-unregister', 'VerOrder');
SELECT status, output FROM duroxide.wait_for_orchestration('ver-after-unregister', 10000);
SELECT duroxide.unregister_orchestration('VerOrder');
SELECT duroxide.start_orchestration('ver-none', 'VerOrder');
SELECT duroxide.unregister_orchestration('VerOrder');

-- section: a start sees a registration made earlier in its own transaction
-- (the session has the older answer cached from the first start)
SELECT duroxide.register_orchestration('VerTx', 'ver.v', '1.0.0');
SELECT duroxide.start_orchestration('ver-tx-0', 'VerTx');
BEGIN;
SELECT duroxide.register_orchestration('VerTx', 'ver.v', '2.0.0');
SELECT duroxide.start_orchestration('ver-tx-1', 'VerTx');
COMMIT;
SELECT duroxide.start_orchestration('ver-tx-2', 'VerTx');
SELECT instance_id, orchestration_version FROM duroxide.instances
 WHERE instance_id LIKE 'ver-tx-%' ORDER BY 1;
