/*-------------------------------------------------------------------------
 * dispatch_write.c
 *		The batch's set-based writes: every turn of a batch adds its rows to
 *		one write buffer (Writes, of DatumLists), a turn that fails is cut
 *		back out of it (DxWritesTruncate), and after the last turn one
 *		statement per table writes them all (DxWritesFlush): the history
 *		delta, the new activity attempts, consumed and terminal messages,
 *		claims released, new messages, ended executions and the instance
 *		rows.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "dispatch.h"
#include "protocol.h"
#include "replay.h"
#include "shmem.h"
#include "util.h"

static DxPlan insert_history_plan = {NULL,
	"INSERT INTO duroxide.history (instance_id, execution_id, event_id, event_type, source_event_id, data)"
	" SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[], $4::text[], $5::int8[], $6::jsonb[])",
6, {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, JSONBARRAYOID}};

static DxPlan insert_activities_plan = {NULL,
	"INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name, input, attempt,"
	"  timeout_ms, orchestration_name, orchestration_version, visible_at)"
	" SELECT u.i, u.e, u.a, u.n, u.inp, u.att, NULLIF(u.t, 0), u.o, u.v, coalesce(u.due, now())"
	"   FROM unnest($1::text[], $2::int4[], $3::int8[], $4::text[], $5::jsonb[], $6::int4[], $7::int8[],"
	"               $8::text[], $9::text[], $10::timestamptz[]) u(i, e, a, n, inp, att, t, o, v, due)",
10, {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, INT4ARRAYOID, INT8ARRAYOID,
TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID}};

static DxPlan insert_messages_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id, data, visible_at)"
	" SELECT u.i, u.e, u.k, u.s, u.d, coalesce(u.due, now())"
	"   FROM unnest($1::text[], $2::int4[], $3::text[], $4::int8[], $5::jsonb[], $6::timestamptz[]) u(i, e, k, s, d, due)",
6, {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID}};

static DxPlan delete_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE id = ANY($1)",
1, {INT8ARRAYOID}};

static DxPlan delete_terminal_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue d USING ("
	"  SELECT q.id FROM unnest($1::text[]) u(iid),"
	"       LATERAL (SELECT m.id FROM duroxide.orchestrator_queue m WHERE m.instance_id = u.iid OFFSET 0) q) t"
	" WHERE d.id = t.id",
1, {TEXTARRAYOID}};

static DxPlan settle_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL, claim_count = 0"
	" WHERE instance_id = ANY($1)",
1, {TEXTARRAYOID}};

static DxPlan update_instances_plan = {NULL,
	"UPDATE duroxide.instances i SET status = u.st, output = u.o, error = u.err,"
	"  custom_status = CASE WHEN u.css THEN u.cs ELSE i.custom_status END,"
	"  execution_id = u.e, orchestration_version = u.v,"
	"  input = CASE WHEN u.e <> i.execution_id THEN u.inp ELSE i.input END,"
	"  replay_mark = u.m, waiting_on = u.w, history_len = u.hl, claim_boot = NULL, claim_slot = NULL,"
	"  claim_count = 0, updated_at = now(), completed_at = CASE WHEN u.st <> 'Running' THEN now() END"
	" FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::jsonb[], $7::int4[],"
	"             $8::text[], $9::jsonb[], $10::int4[], $11::jsonb[], $12::int4[])"
	"      u(id, st, o, err, css, cs, e, v, inp, m, w, hl)"
	" WHERE i.instance_id = u.id AND i.claim_boot = $13 AND i.claim_slot = $14",
14, {TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, BOOLARRAYOID, JSONBARRAYOID, INT4ARRAYOID,
TEXTARRAYOID, JSONBARRAYOID, INT4ARRAYOID, JSONBARRAYOID, INT4ARRAYOID, INT8OID, INT4OID}};

static DxPlan insert_executions_plan = {NULL,
	"INSERT INTO duroxide.executions (instance_id, execution_id, orchestration_version, input, status, output, error)"
	" SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::jsonb[], $5::text[], $6::jsonb[], $7::text[])",
7, {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID}};

/* ------------------------------------------------------------------------
 * Arrays for SPI
 * ------------------------------------------------------------------------ */

/* append a datum (or a NULL) */
void
DxListAdd(DatumList *l, Datum v, bool isnull)
{
	if (l->n == l->max)
	{
		l->max = l->max ? l->max * 2 : 16;
		l->values = l->values ? repalloc(l->values, sizeof(Datum) * l->max) : palloc(sizeof(Datum) * l->max);
		l->nulls = l->nulls ? repalloc(l->nulls, sizeof(bool) * l->max) : palloc(sizeof(bool) * l->max);
	}
	l->values[l->n] = v;
	l->nulls[l->n] = isnull;
	l->n++;
}

/* the list as a one-dimensional array datum */
Datum
DxListArray(DatumList *l, Oid elemtype)
{
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = l->n;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(l->values, l->nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

/* ------------------------------------------------------------------------
 * The batch's writes
 * ------------------------------------------------------------------------ */

/* forget what was added since saved (lists keep their current arrays) */
void
DxWritesTruncate(Writes *w, const Writes *saved)
{
	DatumList  *cur = (DatumList *) w;
	const DatumList *old = (const DatumList *) saved;

	for (size_t i = 0; i < sizeof(Writes) / sizeof(DatumList); i++)
		cur[i].n = old[i].n;
}

/* queue a message for some instance */
void
DxWritesAddMessage(Writes *w, const char *instance_id, int32 execution_id, DxMessageKind kind,
		   int64 source_id, Jsonb *data, TimestampTz due_at)
{
	DxListText(&w->m_inst, instance_id);
	DxListAdd(&w->m_exec, Int32GetDatum(execution_id), execution_id == 0);
	DxListText(&w->m_kind, DxMessageKindName(kind));
	DxListAdd(&w->m_src, Int64GetDatum(source_id), source_id == 0);
	DxListJsonb(&w->m_data, data);
	DxListAdd(&w->m_due, TimestampTzGetDatum(due_at), due_at == 0);
}

/* add the turn's history delta, consumed messages and instance row to the batch */
void
DxWritesAddTurn(Writes *w, DxTurn *t, Instance *inst, TurnResult *r)
{
	DxEvent    *new_events = NULL;
	int			nnew = 0;
	Jsonb	   *custom_status = NULL;
	bool		custom_status_set = false;

	if (t)
	{
		new_events = DxTurnNewEvents(t, &nnew);
		custom_status_set = DxTurnCustomStatus(t, &custom_status);
	}
	for (int i = 0; i < nnew; i++)
	{
		DxEvent    *ev = &new_events[i];

		DxListText(&w->h_inst, DxTurnInstanceId(t));
		DxListAdd(&w->h_exec, Int32GetDatum(DxTurnExecutionId(t)), false);
		DxListAdd(&w->h_id, Int64GetDatum(ev->event_id), false);
		DxListText(&w->h_type, DxEventTypeName(ev->type));
		DxListAdd(&w->h_src, Int64GetDatum(ev->source_id), ev->source_id == 0);
		DxListJsonb(&w->h_data, ev->data);
	}
	/* a terminal instance's messages all go (w->terminal below) */
	for (int i = 0; !r->terminal && i < inst->nmsgs; i++)
		DxListAdd(&w->consumed, Int64GetDatum(inst->msgs[i].id), false);

	DxListText(&w->u_id, inst->instance_id);
	DxListText(&w->u_status, r->status);
	DxListJsonb(&w->u_output, r->output);
	DxListText(&w->u_error, r->error);
	DxListAdd(&w->u_cs_set, BoolGetDatum(custom_status_set), false);
	DxListJsonb(&w->u_cs, custom_status);
	DxListAdd(&w->u_exec, Int32GetDatum(r->execution_id), false);
	DxListText(&w->u_version, r->version);
	DxListJsonb(&w->u_input, r->input);
	DxListAdd(&w->u_mark, Int32GetDatum(r->replay_mark), false);
	DxListJsonb(&w->u_wait, r->waiting_on);
	DxListAdd(&w->u_hlen, Int32GetDatum(r->execution_id != inst->execution_id ? 0 : DxTurnEventCount(t)), false);

	if (r->terminal || r->execution_id != inst->execution_id)
	{
		/* the execution that ran this turn has ended */
		DxListText(&w->e_inst, inst->instance_id);
		DxListAdd(&w->e_exec, Int32GetDatum(inst->execution_id), false);
		DxListText(&w->e_version, inst->version);
		DxListJsonb(&w->e_input, inst->input);
		DxListText(&w->e_status, r->terminal ? r->status : "ContinuedAsNew");
		DxListJsonb(&w->e_output, r->output);
		DxListText(&w->e_error, r->error);
	}
	if (r->terminal)
	{
		DxListText(&w->terminal, inst->instance_id);
		if (inst->parent_instance_id && inst->parent_event_id != 0)
		{
			DxJsonBuilder b;
			bool		ok = strcmp(r->status, "Completed") == 0;

			DxJbBegin(&b);
			if (ok && r->output)
				DxJbJsonb(&b, "result", r->output);
			else if (ok)
				DxJbNull(&b, "result");
			else
				DxJbString(&b, "error", r->error ? r->error : r->status);
			/* the parent applies it only from the child its command created */
			DxJbString(&b, DX_CHILD_ID_KEY, inst->instance_id);
			DxWritesAddMessage(w, inst->parent_instance_id, inst->parent_execution_id,
					   ok ? MSG_SUB_ORCHESTRATION_COMPLETED : MSG_SUB_ORCHESTRATION_FAILED,
					   inst->parent_event_id, DxJbEnd(&b), 0);
		}
	}
	else if (r->execution_id != inst->execution_id)
		DxWritesAddMessage(w, inst->instance_id, r->execution_id, MSG_EXECUTION_STARTED, 0, NULL, 0);
}

/* execute one of the batch's write statements, if its first list is not empty */
static void
WriteStatement(DxPlan *plan, DatumList **lists, Oid *types, int n, int expected, const char *what)
{
	Datum		values[12];

	if (lists[0]->n == 0)
		return;
	for (int i = 0; i < n; i++)
		values[i] = DxListArray(lists[i], types[i]);
	DxExpect(DxExecPlan(plan, values, NULL, false, 0), expected, what);
}

/* write everything the batch's turns produced */
void
DxWritesFlush(Writes *w, int slot)
{
	{
		DatumList  *l[] = {&w->h_inst, &w->h_exec, &w->h_id, &w->h_type, &w->h_src, &w->h_data};
		Oid			t[] = {TEXTOID, INT4OID, INT8OID, TEXTOID, INT8OID, JSONBOID};

		WriteStatement(&insert_history_plan, l, t, 6, SPI_OK_INSERT, "history insert");
	}
	{
		DatumList  *l[] = {&w->w_inst, &w->w_exec, &w->w_aid, &w->w_name, &w->w_input, &w->w_attempt,
		&w->w_timeout, &w->w_oname, &w->w_oversion, &w->w_due};
		Oid			t[] = {TEXTOID, INT4OID, INT8OID, TEXTOID, JSONBOID, INT4OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};

		WriteStatement(&insert_activities_plan, l, t, 10, SPI_OK_INSERT, "activity insert");
	}
	{
		DatumList  *l[] = {&w->consumed};
		Oid			t[] = {INT8OID};

		WriteStatement(&delete_messages_plan, l, t, 1, SPI_OK_DELETE, "message delete");
	}
	{
		DatumList  *l[] = {&w->terminal};
		Oid			t[] = {TEXTOID};

		WriteStatement(&delete_terminal_messages_plan, l, t, 1, SPI_OK_DELETE, "queue cleanup");
	}
	{
		DatumList  *l[] = {&w->settled};
		Oid			t[] = {TEXTOID};

		WriteStatement(&settle_plan, l, t, 1, SPI_OK_UPDATE, "claim release");
	}
	{
		DatumList  *l[] = {&w->m_inst, &w->m_exec, &w->m_kind, &w->m_src, &w->m_data, &w->m_due};
		Oid			t[] = {TEXTOID, INT4OID, TEXTOID, INT8OID, JSONBOID, TIMESTAMPTZOID};

		WriteStatement(&insert_messages_plan, l, t, 6, SPI_OK_INSERT, "message insert");
	}
	{
		DatumList  *l[] = {&w->e_inst, &w->e_exec, &w->e_version, &w->e_input, &w->e_status, &w->e_output, &w->e_error};
		Oid			t[] = {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, JSONBOID, TEXTOID};

		WriteStatement(&insert_executions_plan, l, t, 7, SPI_OK_INSERT, "execution insert");
	}
	if (w->u_id.n > 0)
	{
		Datum		values[14];
		DatumList  *l[] = {&w->u_id, &w->u_status, &w->u_output, &w->u_error, &w->u_cs_set, &w->u_cs,
		&w->u_exec, &w->u_version, &w->u_input, &w->u_mark, &w->u_wait, &w->u_hlen};
		Oid			t[] = {TEXTOID, TEXTOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID, INT4OID, TEXTOID, JSONBOID,
		INT4OID, JSONBOID, INT4OID};

		for (int i = 0; i < 12; i++)
			values[i] = DxListArray(l[i], t[i]);
		values[12] = Int64GetDatum(DxBootId());
		values[13] = Int32GetDatum(slot);
		DxExpect(DxExecPlan(&update_instances_plan, values, NULL, false, 0), SPI_OK_UPDATE, "instance update");
		if (SPI_processed != (uint64) w->u_id.n)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("duroxide: %d of %d claimed instances changed under their turn",
							w->u_id.n - (int) SPI_processed, w->u_id.n),
					 errdetail("An instance was deleted or its claim released while its turn ran.")));
	}
}
