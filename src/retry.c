/*-------------------------------------------------------------------------
 * retry.c
 *		Activity retry policies (README.md, "Retry policy"), parsed and
 *		applied in one place: DxParseRetryPolicy validates a policy when
 *		schedule_activity_with_retry records it; the first attempt's timeout
 *		and the total deadline come from it; when an attempt fails,
 *		DxRetryActivityFailure decides from the recorded command whether to
 *		retry (after DxRetryDelay) or to record the final failure.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "protocol.h"
#include "replay.h"
#include "replay_internal.h"
#include "util.h"

/* error for a bad retry policy field */
DX_NORETURN void
DxBadRetryPolicy(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid retry policy: %s", detail),
			 errhint("Use {\"maxAttempts\": 3, \"backoff\": \"exponential\", \"initialDelayMs\": 100, \"maxDelayMs\": 30000, \"timeoutMs\": 5000, \"totalTimeoutMs\": 30000}; every field is optional.")));
}

/* a non-negative integer field of a policy */
static int64
PolicyInt(Jsonb *retry, const char *key, int64 dflt, int64 min)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&retry->root, key, strlen(key), NULL);
	int64		value;

	if (v == NULL || v->type == jbvNull)
		return dflt;
	if (v->type != jbvNumeric)
		DxBadRetryPolicy(psprintf("\"%s\" must be a number", key));
	value = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	if (value < min)
		DxBadRetryPolicy(psprintf("\"%s\" must be at least " INT64_FORMAT, key, min));
	return value;
}

/* parse and validate a retry policy */
void
DxParseRetryPolicy(Jsonb *retry, DxRetryPolicy *p)
{
	static const char *const known[] = {"maxAttempts", "backoff", "initialDelayMs", "maxDelayMs",
	"timeoutMs", "totalTimeoutMs", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *backoff;

	if (retry == NULL || !JB_ROOT_IS_OBJECT(retry) || JB_ROOT_IS_SCALAR(retry))
		DxBadRetryPolicy("the policy must be a JSON object");
	/* refuse unknown keys: a typo would otherwise be silently ignored */
	it = JsonbIteratorInit(&retry->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			i;
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			for (i = 0; known[i]; i++)
				if (strcmp(known[i], key) == 0)
					break;
			if (known[i] == NULL)
				DxBadRetryPolicy(psprintf("unknown field \"%s\"", key));
		}
	}
	p->max_attempts = (int) PolicyInt(retry, "maxAttempts", 3, 1);
	if (p->max_attempts > 1000)
		DxBadRetryPolicy("\"maxAttempts\" must be at most 1000");
	p->initial_delay_ms = PolicyInt(retry, "initialDelayMs", 100, 0);
	p->max_delay_ms = PolicyInt(retry, "maxDelayMs", 30000, 0);
	p->timeout_ms = PolicyInt(retry, "timeoutMs", 0, 0);
	p->total_timeout_ms = PolicyInt(retry, "totalTimeoutMs", 0, 0);
	{
		JsonbValue *b = getKeyJsonValueFromContainer(&retry->root, "backoff", 7, NULL);

		if (b != NULL && b->type != jbvNull && b->type != jbvString)
			DxBadRetryPolicy("\"backoff\" must be a string");
		backoff = (b && b->type == jbvString) ? pnstrdup(b->val.string.val, b->val.string.len) : "exponential";
	}
	if (strcmp(backoff, "exponential") == 0)
		p->backoff = DX_BACKOFF_EXPONENTIAL;
	else if (strcmp(backoff, "fixed") == 0)
		p->backoff = DX_BACKOFF_FIXED;
	else if (strcmp(backoff, "linear") == 0)
		p->backoff = DX_BACKOFF_LINEAR;
	else if (strcmp(backoff, "none") == 0)
		p->backoff = DX_BACKOFF_NONE;
	else
		DxBadRetryPolicy(psprintf("\"backoff\" must be \"exponential\", \"fixed\", \"linear\" or \"none\", not \"%s\"", backoff));
}

/* the wait after the given failed attempt (1-based) */
int64
DxRetryDelay(const DxRetryPolicy *p, int failed_attempt)
{
	int64		d;

	switch (p->backoff)
	{
		case DX_BACKOFF_NONE:
			return 0;
		case DX_BACKOFF_FIXED:
			d = p->initial_delay_ms;
			break;
		case DX_BACKOFF_LINEAR:
			d = p->initial_delay_ms * failed_attempt;
			break;
		default:
			d = p->initial_delay_ms;
			for (int i = 1; i < failed_attempt && d < p->max_delay_ms; i++)
				d *= 2;
			break;
	}
	return Min(d, p->max_delay_ms);
}

/* the deadline of all attempts (ms since the epoch, as history records it) */
int64
DxRetryDeadline(const DxRetryPolicy *p)
{
	return (GetCurrentTimestamp() / 1000) + p->total_timeout_ms;
}

/* the first attempt's timeout: the policy's, but never past the total deadline */
int64
DxRetryFirstTimeout(const DxRetryPolicy *p)
{
	int64		timeout_ms = p->timeout_ms;

	if (p->total_timeout_ms > 0 && (timeout_ms == 0 || timeout_ms > p->total_timeout_ms))
		timeout_ms = p->total_timeout_ms;
	return timeout_ms;
}

/* the error fields of an ActivityFailed message besides "error" (activity.c) */
static const char *const error_fields[] = {"sqlstate", "detail", "hint"};

/*
 * An activity attempt failed (failure: its ActivityFailed message data):
 * when the command's retry policy allows another attempt before its
 * deadline, record ActivityAttemptFailed, queue the next attempt and return
 * true; false when the failure is final (the caller records ActivityFailed).
 */
bool
DxRetryActivityFailure(DxTurn *t, int64 source_id, Jsonb *failure)
{
	DxEvent    *cmd = DxTurnEvent(t, source_id);
	Jsonb	   *retry = cmd ? DxJbGet(cmd->data, "retry") : NULL;
	int64		attempt = 1;
	char	   *error = DxJbGetText(failure, "error");

	(void) DxJbGetInt(failure, "attempt", &attempt);
	if (retry != NULL)
	{
		DxRetryPolicy p;
		int64		delay;
		int64		deadline = 0;
		int64		now_ms = GetCurrentTimestamp() / 1000;

		DxParseRetryPolicy(retry, &p);
		delay = DxRetryDelay(&p, (int) attempt);
		(void) DxJbGetInt(cmd->data, "deadline_ms", &deadline);
		if (attempt < p.max_attempts && (deadline == 0 || now_ms + delay < deadline))
		{
			DxJsonBuilder b;
			DxAction	a;

			DxJbBegin(&b);
			DxJbInt(&b, "attempt", attempt);
			DxJbString(&b, "error", error);
			for (int k = 0; k < lengthof(error_fields); k++)
				if (DxJbGetText(failure, error_fields[k]) != NULL)
					DxJbString(&b, error_fields[k], DxJbGetText(failure, error_fields[k]));
			DxJbInt(&b, "retry_delay_ms", delay);
			DxTurnAppend(t, EV_ACTIVITY_ATTEMPT_FAILED, source_id, DxJbEnd(&b));

			memset(&a, 0, sizeof(a));
			a.kind = ACT_ACTIVITY;
			a.event_id = source_id;
			a.name = DxJbGetText(cmd->data, "name");
			a.input = DxJbGet(cmd->data, "input");
			a.attempt = (int) attempt + 1;
			a.due_at = delay > 0 ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay) : 0;
			a.timeout_ms = p.timeout_ms;
			if (deadline > 0 && (a.timeout_ms == 0 || a.timeout_ms > deadline - now_ms - delay))
				a.timeout_ms = Max(deadline - now_ms - delay, 1);
			DxTurnAddAction(t, &a);
			return true;
		}
	}
	return false;
}
