/*-------------------------------------------------------------------------
 * replay_fast.c
 *		The fast path of duroxide.call_activity for a call whose answer is
 *		recorded (issue 15: the cost of a replayed durable call).
 *
 * A turn replays every durable call made before it, so turn k of a chain
 * makes k - 1 calls whose answer history already holds.  The general path
 * of such a call (duroxide.await(duroxide.schedule_activity(...))) checks
 * the context (deforming it), copies the name and input, decodes the
 * recorded command (copying its name and input), compares the inputs value
 * by value, builds a duroxide.task row, deforms it again in await and
 * copies the result.  This path answers the common case with none of that:
 *
 *	  the turn runs and has not ended; the context is PL/pgSQL's expanded
 *	  record (its fields are read in place) of the running instance; the
 *	  next recorded command is an ActivityScheduled with the same name and
 *	  byte-for-byte the same input (read in place from the recorded
 *	  event), and its completion is an ActivityCompleted.
 *
 * Then the call is matched (cursor + 1), the await resolves (resolved + 1)
 * and the recorded result is returned, exactly as the general path would.
 * Anything else (a new call, a failure, a null input, inputs equal only as
 * values, a mismatch that is nondeterminism) takes the general path, which
 * decides it with its full checks and messages.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/expandedrecord.h"
#include "utils/jsonb.h"

#include "replay_internal.h"

/* the instance id field of a context argument equals the turn's, read in place */
static bool
SameInstance(Datum ctx, const char *instance_id)
{
	ExpandedRecordHeader *erh;
	Datum		d;
	bool		isnull;
	text	   *iid;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(ctx)))
		return false;
	erh = (ExpandedRecordHeader *) DatumGetEOHP(ctx);
	if (erh->er_magic != ER_MAGIC)
		return false;
	d = expanded_record_get_field(erh, 1, &isnull);
	if (isnull || (VARATT_IS_EXTENDED(DatumGetPointer(d)) && !VARATT_IS_SHORT(DatumGetPointer(d))))
		return false;
	iid = (text *) DatumGetPointer(d);
	return VARSIZE_ANY_EXHDR(iid) == strlen(instance_id) &&
		memcmp(VARDATA_ANY(iid), instance_id, VARSIZE_ANY_EXHDR(iid)) == 0;
}

/* a key of a recorded event's object, read in place */
static bool
RecordedKey(Jsonb *data, const char *key, JsonbValue *v)
{
	return data != NULL && JB_ROOT_IS_OBJECT(data) &&
		getKeyJsonValueFromContainer(&data->root, key, strlen(key), v) != NULL;
}

/* the recorded input is byte for byte the argument (false: let the general path decide) */
static bool
SameBytes(Jsonb *arg, JsonbValue *rec)
{
	JsonbValue	a;

	if (rec->type == jbvBinary)
		return !JB_ROOT_IS_SCALAR(arg) &&
			(Size) rec->val.binary.len == VARSIZE(arg) - VARHDRSZ &&
			memcmp(rec->val.binary.data, &arg->root, rec->val.binary.len) == 0;
	if (!JB_ROOT_IS_SCALAR(arg) || !JsonbExtractScalar(&arg->root, &a) || a.type != rec->type)
		return false;
	switch (a.type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a.val.boolean == rec->val.boolean;
		case jbvString:
			return a.val.string.len == rec->val.string.len &&
				memcmp(a.val.string.val, rec->val.string.val, a.val.string.len) == 0;
		case jbvNumeric:
			return VARSIZE_ANY(a.val.numeric) == VARSIZE_ANY(rec->val.numeric) &&
				memcmp(a.val.numeric, rec->val.numeric, VARSIZE_ANY(a.val.numeric)) == 0;
		default:
			return false;
	}
}

/*
 * call_activity(ctx, name, input) answered from history, if it is the common
 * case described above: sets *result (NULL: SQL NULL) and returns true.
 */
bool
DxReplayRecordedActivity(FunctionCallInfo fcinfo, Jsonb **result)
{
	DxTurn	   *t = dx_running_turn;
	DxEvent    *cmd;
	DxEvent    *done;
	text	   *name;
	JsonbValue	v;

	if (t == NULL || t->ended || t->cursor >= t->ncommands ||
		PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return false;
	cmd = &t->events[t->commands[t->cursor]];
	if (cmd->type != EV_ACTIVITY_SCHEDULED || !DxTurnHasCompletion(t, cmd->event_id))
		return false;
	done = &t->events[t->completion[cmd->event_id]];
	if (done->type != EV_ACTIVITY_COMPLETED || !SameInstance(PG_GETARG_DATUM(0), t->instance_id))
		return false;
	name = PG_GETARG_TEXT_PP(1);
	if (!RecordedKey(cmd->data, "name", &v) || v.type != jbvString ||
		v.val.string.len != (int) VARSIZE_ANY_EXHDR(name) ||
		memcmp(v.val.string.val, VARDATA_ANY(name), v.val.string.len) != 0)
		return false;
	if (!RecordedKey(cmd->data, "input", &v) || !SameBytes(PG_GETARG_JSONB_P(2), &v))
		return false;

	/* matched: what ReplayCommand and await would do */
	t->cursor++;
	(void) DxResolveAwait(t);
	*result = RecordedKey(done->data, "result", &v) ? JsonbValueToJsonb(&v) : NULL;
	return true;
}
