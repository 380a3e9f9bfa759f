/*-------------------------------------------------------------------------
 * diagram.c
 *		duroxide.history_diagram(instance_id, format, execution_id): one
 *		execution's history as a picture, an SVG document or a Mermaid
 *		gantt chart.
 *
 * Rights: everything is read as the caller, with search_path pinned, so
 * table privileges and row-level security decide exactly as they do for
 * duroxide.get_history: another role's instance is as unknown as an id that
 * does not exist.  Nothing is written.
 *
 * Model: one lane per durable task of the execution -- activity, timer,
 * event wait, sub-orchestration -- in the order they were scheduled.  A
 * lane's bar runs from the event that scheduled the task to the event that
 * completed it (history's created_at, i.e. the commit times of the turns
 * that recorded them).  An activity's attempts are segments of its lane:
 * attempt k+1 starts when attempt k's failure is recorded plus its retry
 * delay.  An event wait takes the k-th arrival of its name for the k-th
 * subscription (the replay rule of src/replay.c, without the exception for
 * await_any losers, which history does not record).  A task without a
 * completion is pending, drawn to now, while the execution runs, and
 * cancelled, drawn to the execution's end, once it has ended (a lost
 * await_any, a cancellation, or an end that did not wait for it).
 * Commands that are not tasks (detached starts, utc_now, new_guid) get no
 * lane.
 *
 * Output safety: every user-supplied string (instance id, orchestration,
 * activity and event names, child ids, error messages) is escaped for XML
 * -- and written as ASCII only, with numeric character references, so the
 * document is valid whatever the database encoding -- or, for Mermaid,
 * stripped of what its gantt grammar parses (":", ";", "#", "%", line
 * breaks; markup characters too) and prefixed with a fixed word, so that a
 * name can never start a keyword such as "section" or "click".
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "protocol.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_history_diagram);

/* layout of the SVG (pixels) */
#define DG_WIDTH		1100
#define DG_MARGIN		16
#define DG_LABEL_X		42			/* lane labels, after the kind badge */
#define DG_LABEL_CHARS	34			/* longer labels are cut (tooltip: whole) */
#define DG_CHART_X		330			/* the time axis runs from here ... */
#define DG_CHART_W		680			/* ... this wide */
#define DG_LANE_H		20
#define DG_BAR_H		12
#define DG_MIN_BAR_W	2.0			/* zero-duration bars stay visible */
#define DG_NOTE_CHAR_W	5.6			/* estimated width of a character of a bar's note */
#define DG_AXIS_Y		126			/* the top axis line */
#define DG_EXEC_Y		132			/* the execution's own row */
#define DG_LANES_Y		156			/* the first lane */
#define DG_TOOLTIP_CHARS 600		/* error texts in tooltips are cut here */
#define DG_MAX_LANES	5000		/* more tasks than this: the rest are counted */
#define DG_MAX_TICKS	10

/* Mermaid: names are cut at this many characters */
#define DG_MM_CHARS		60

typedef enum DgKind
{
	DG_ACTIVITY,
	DG_TIMER,
	DG_EVENT,
	DG_CHILD,
	DG__KINDS
} DgKind;

typedef enum DgOutcome
{
	DG_PENDING,
	DG_COMPLETED,
	DG_FAILED,
	DG_CANCELLED
} DgOutcome;

/* per kind: data-kind, badge letter, Mermaid word, Mermaid section, task id prefix */
static const struct
{
	const char *kind;
	const char *badge;
	const char *word;
	const char *section;
	const char *id;
}			dg_kinds[DG__KINDS] = {
	[DG_ACTIVITY] = {"activity", "A", "activity", "Activities", "a"},
	[DG_TIMER] = {"timer", "T", "timer", "Timers", "t"},
	[DG_EVENT] = {"event", "E", "event", "Event waits", "e"},
	[DG_CHILD] = {"sub_orchestration", "S", "child", "Sub-orchestrations", "s"},
};

static const char *const dg_outcomes[] = {
	[DG_PENDING] = "pending",
	[DG_COMPLETED] = "completed",
	[DG_FAILED] = "failed",
	[DG_CANCELLED] = "cancelled",
};

/* one attempt of an activity */
typedef struct DgAttempt
{
	TimestampTz start;
	TimestampTz end;
	bool		ended;
	bool		failed;
	char	   *error;
	int64		retry_delay_ms;
} DgAttempt;

/* one lane: a durable task */
typedef struct DgLane
{
	DgKind		kind;
	int64		event_id;		/* the event that scheduled it */
	char	   *name;			/* activity, event or child orchestration name */
	char	   *detail;			/* child instance id, or NULL */
	int64		delay_ms;		/* timers */
	TimestampTz start;
	TimestampTz end;
	bool		ended;
	DgOutcome	outcome;
	char	   *error;
	bool		early_event;	/* the event had arrived before the wait began */
	int			nattempts;
	int			maxattempts;
	DgAttempt  *attempts;
} DgLane;

/* an EventRaised, for matching with subscriptions */
typedef struct DgRaise
{
	char	   *name;
	int			order;
	TimestampTz at;
	int			lane;			/* for subscriptions: the lane; for raises: -1 */
} DgRaise;

/* the execution being drawn */
typedef struct DgDiagram
{
	char	   *instance_id;
	char	   *name;
	char	   *version;
	char	   *status;
	char	   *error;
	int			execution_id;
	int			current_execution;
	bool		ended;
	TimestampTz t0;
	TimestampTz tend;
	TimestampTz started_at;
	DgLane	   *lanes;
	int			nlanes;
	int			maxlanes;
	int			lanes_not_shown;
} DgDiagram;

/* as the caller: the instance as row-level security shows it */
static DxPlan instance_plan = {NULL,
	"SELECT i.orchestration_name, i.orchestration_version, i.status, i.execution_id, i.error,"
	"       i.completed_at, i.created_at"
	"  FROM duroxide.instances i WHERE i.instance_id OPERATOR(pg_catalog.=) $1",
1, {TEXTOID}};

/* as the caller: an ended execution */
static DxPlan execution_plan = {NULL,
	"SELECT e.orchestration_version, e.status, e.error, e.completed_at"
	"  FROM duroxide.executions e"
	" WHERE e.instance_id OPERATOR(pg_catalog.=) $1 AND e.execution_id OPERATOR(pg_catalog.=) $2",
2, {TEXTOID, INT4OID}};

/* as the caller: the execution's history, as get_history reads it */
static DxPlan history_plan = {NULL,
	"SELECT h.event_id, h.event_type, h.source_event_id, h.created_at, h.data"
	"  FROM duroxide.history h"
	" WHERE h.instance_id OPERATOR(pg_catalog.=) $1 AND h.execution_id OPERATOR(pg_catalog.=) $2"
	" ORDER BY h.event_id",
2, {TEXTOID, INT4OID}};

/*-------------------------------------------------------------------------
 * Escaping
 *-------------------------------------------------------------------------
 */

/*
 * The code point at p (valid UTF-8, as pg_server_to_any returns it) and the
 * length of its encoding; a byte that starts no sequence counts as U+FFFD.
 */
static int
Utf8Next(const unsigned char *p, pg_wchar *c)
{
	int			len;
	int			i;

	if (p[0] < 0x80)
	{
		*c = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, *c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, *c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, *c = p[0] & 0x07;
	else
	{
		*c = 0xfffd;
		return 1;
	}
	for (i = 1; i < len; i++)
	{
		if ((p[i] & 0xc0) != 0x80)
		{
			*c = 0xfffd;
			return i;
		}
		*c = (*c << 6) | (p[i] & 0x3f);
	}
	return len;
}

/*
 * Append s as XML character data (fit for attributes as well), in ASCII:
 * markup characters as entities, other characters than ASCII as numeric
 * references, control characters as spaces.  maxchars > 0 cuts the text
 * there and appends an ellipsis.
 */
static void
XmlText(StringInfo b, const char *s, int maxchars)
{
	char	   *u;
	const unsigned char *p;
	int			n = 0;

	if (s == NULL)
		return;
	u = pg_server_to_any(s, strlen(s), PG_UTF8);
	p = (const unsigned char *) u;
	while (*p)
	{
		pg_wchar	c;
		int			len = Utf8Next(p, &c);

		if (maxchars > 0 && n >= maxchars)
		{
			appendStringInfoString(b, "&#8230;");
			break;
		}
		if (c < 0x20 || c == 0x7f)
			appendStringInfoChar(b, ' ');
		else if (c == '&')
			appendStringInfoString(b, "&amp;");
		else if (c == '<')
			appendStringInfoString(b, "&lt;");
		else if (c == '>')
			appendStringInfoString(b, "&gt;");
		else if (c == '"')
			appendStringInfoString(b, "&quot;");
		else if (c == '\'')
			appendStringInfoString(b, "&#39;");
		else if (c < 0x80)
			appendStringInfoChar(b, (char) c);
		else if (c == 0xfffe || c == 0xffff || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			appendStringInfoString(b, "&#xFFFD;");	/* not allowed in XML */
		else
			appendStringInfo(b, "&#x%X;", (unsigned int) c);
		p += len;
		n++;
	}
}

/* true for the characters that Mermaid's gantt grammar (or a renderer) may read */
static bool
MmHazard(char c)
{
	return strchr("#:;%<>&\"`\\", c) != NULL;
}

/*
 * Append s for a Mermaid line: line breaks and control characters as
 * spaces, the hazards above as '_'; cut at maxchars characters.
 */
static void
MmText(StringInfo b, const char *s, int maxchars)
{
	const char *p = s;
	int			n = 0;

	if (s == NULL)
		return;
	while (*p)
	{
		int			len = pg_mblen(p);

		if (n >= maxchars)
		{
			appendStringInfoString(b, "...");
			break;
		}
		if (len == 1)
		{
			unsigned char c = (unsigned char) *p;

			if (c < 0x20 || c == 0x7f)
				appendStringInfoChar(b, ' ');
			else if (MmHazard((char) c))
				appendStringInfoChar(b, '_');
			else
				appendStringInfoChar(b, (char) c);
		}
		else
			appendBinaryStringInfo(b, p, len);
		p += len;
		n++;
	}
}

/*-------------------------------------------------------------------------
 * Times
 *-------------------------------------------------------------------------
 */

/* "2 min 5 s", or "2 min" when the second part is zero */
static void
TwoUnits(StringInfo b, int64 major, const char *major_unit, int64 minor, const char *minor_unit)
{
	appendStringInfo(b, INT64_FORMAT " %s", major, major_unit);
	if (minor != 0)
		appendStringInfo(b, " " INT64_FORMAT " %s", minor, minor_unit);
}

/* a duration in the unit that suits it: "0.4 ms", "40 ms", "1.25 s", "2 min 5 s" */
static void
FormatDuration(StringInfo b, int64 us)
{
	if (us < 0)
		us = 0;
	if (us < 10 * 1000)
		appendStringInfo(b, "%.1f ms", us / 1000.0);
	else if (us < USECS_PER_SEC)
		appendStringInfo(b, INT64_FORMAT " ms", (us + 500) / 1000);
	else if (us < 10 * USECS_PER_SEC)
		appendStringInfo(b, "%.2f s", us / (double) USECS_PER_SEC);
	else if (us < USECS_PER_MINUTE)
		appendStringInfo(b, "%.1f s", us / (double) USECS_PER_SEC);
	else if (us < USECS_PER_HOUR)
		TwoUnits(b, us / USECS_PER_MINUTE, "min", (us % USECS_PER_MINUTE) / USECS_PER_SEC, "s");
	else if (us < USECS_PER_DAY)
		TwoUnits(b, us / USECS_PER_HOUR, "h", (us % USECS_PER_HOUR) / USECS_PER_MINUTE, "min");
	else
		TwoUnits(b, us / USECS_PER_DAY, "d", (us % USECS_PER_DAY) / USECS_PER_HOUR, "h");
}

/* a timestamp in UTC, ISO 8601 to the millisecond, whatever the session's settings */
static void
FormatUtc(StringInfo b, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		appendStringInfoString(b, "?");
		return;
	}
	appendStringInfo(b, "%04d-%02d-%02d %02d:%02d:%02d.%03d UTC",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					 (int) (fsec / 1000));
}

/* milliseconds since the Unix epoch (Mermaid's dateFormat x) */
static int64
UnixMs(TimestampTz t)
{
	return (t + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / 1000;
}

/*-------------------------------------------------------------------------
 * Reading the history into lanes
 *-------------------------------------------------------------------------
 */

/* a new lane for the command of event event_id, or -1 past DG_MAX_LANES */
static int
AddLane(DgDiagram *d, DgKind kind, int64 event_id, TimestampTz at, char *name)
{
	DgLane	   *l;

	if (d->nlanes >= DG_MAX_LANES)
	{
		d->lanes_not_shown++;
		return -1;
	}
	if (d->nlanes == d->maxlanes)
	{
		d->maxlanes = d->maxlanes ? d->maxlanes * 2 : 16;
		d->lanes = d->lanes ? repalloc(d->lanes, sizeof(DgLane) * d->maxlanes)
			: palloc(sizeof(DgLane) * d->maxlanes);
	}
	l = &d->lanes[d->nlanes];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	l->event_id = event_id;
	l->start = at;
	l->name = name ? name : pstrdup("?");
	l->outcome = DG_PENDING;
	if (kind == DG_ACTIVITY)
	{
		l->maxattempts = 2;
		l->attempts = palloc0(sizeof(DgAttempt) * l->maxattempts);
		l->nattempts = 1;
		l->attempts[0].start = at;
	}
	return d->nlanes++;
}

/* the activity's current attempt, after a failed one (a retry) */
static DgAttempt *
NextAttempt(DgLane *l)
{
	DgAttempt  *prev = &l->attempts[l->nattempts - 1];
	DgAttempt  *a;

	if (l->nattempts == l->maxattempts)
	{
		l->maxattempts *= 2;
		l->attempts = repalloc(l->attempts, sizeof(DgAttempt) * l->maxattempts);
		prev = &l->attempts[l->nattempts - 1];
	}
	a = &l->attempts[l->nattempts++];
	memset(a, 0, sizeof(*a));
	a->start = prev->end + prev->retry_delay_ms * 1000;
	return a;
}

/* order subscriptions and arrivals by event name, then by their order in history */
static int
RaiseCmp(const void *a, const void *b)
{
	const DgRaise *x = a;
	const DgRaise *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->order > y->order) - (x->order < y->order);
}

/* the k-th subscription to a name gets the k-th arrival of that name */
static void
MatchEvents(DgDiagram *d, DgRaise *subs, int nsubs, DgRaise *raises, int nraises)
{
	int			i = 0;
	int			j = 0;

	qsort(subs, nsubs, sizeof(DgRaise), RaiseCmp);
	qsort(raises, nraises, sizeof(DgRaise), RaiseCmp);
	while (i < nsubs && j < nraises)
	{
		int			c = strcmp(subs[i].name, raises[j].name);

		if (c < 0)
		{
			/* no arrival left for this name */
			i++;
			continue;
		}
		if (c > 0)
		{
			j++;
			continue;
		}
		if (subs[i].lane >= 0)
		{
			DgLane	   *l = &d->lanes[subs[i].lane];

			l->ended = true;
			l->outcome = DG_COMPLETED;
			l->early_event = raises[j].at < l->start;
			l->end = l->early_event ? l->start : raises[j].at;
		}
		i++;
		j++;
	}
}

/* read the instance, the execution and its history (as the caller) into d */
static void
ReadExecution(DgDiagram *d, bool execution_given)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Datum		args[2];
	int			ret;
	bool		isnull;
	TupleDesc	td;
	HeapTuple	tup;
	TimestampTz completed_at = 0;
	bool		have_completed_at = false;
	TimestampTz created_at;
	TimestampTz terminal_at = 0;
	bool		have_terminal = false;
	int		   *lane_of = NULL;
	int64		nlane_of = 0;
	DgRaise    *subs;
	DgRaise    *raises;
	int			nsubs = 0;
	int			nraises = 0;
	uint64		n;
	uint64		r;
	int			nest;

	SPI_connect();
	nest = DxPinSearchPath();
	args[0] = CStringGetTextDatum(d->instance_id);
	ret = DxExecPlan(&instance_plan, args, NULL, true, 1);
	DxExpect(ret, SPI_OK_SELECT, "reading the instance");
	MemoryContextSwitchTo(callcxt); /* what is copied out must outlive SPI_finish */
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("orchestration instance \"%s\" does not exist", d->instance_id)));
	td = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	d->name = SPI_getvalue(tup, td, 1);
	d->version = SPI_getvalue(tup, td, 2);
	d->status = SPI_getvalue(tup, td, 3);
	d->current_execution = DatumGetInt32(SPI_getbinval(tup, td, 4, &isnull));
	d->error = SPI_getvalue(tup, td, 5);
	completed_at = DatumGetTimestampTz(SPI_getbinval(tup, td, 6, &isnull));
	have_completed_at = !isnull;
	created_at = DatumGetTimestampTz(SPI_getbinval(tup, td, 7, &isnull));
	if (!execution_given)
		d->execution_id = d->current_execution;

	if (d->execution_id == d->current_execution)
		d->ended = strcmp(d->status, "Running") != 0 && strcmp(d->status, "Suspended") != 0;
	else
	{
		if (d->execution_id < 1 || d->execution_id > d->current_execution)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("execution %d of orchestration instance \"%s\" does not exist",
							d->execution_id, d->instance_id),
					 errhint("Its executions are 1 to %d; NULL draws the current one.",
							 d->current_execution)));
		args[1] = Int32GetDatum(d->execution_id);
		ret = DxExecPlan(&execution_plan, args, NULL, true, 1);
		DxExpect(ret, SPI_OK_SELECT, "reading the execution");
		MemoryContextSwitchTo(callcxt); /* SPI left us in its own context */
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("execution %d of orchestration instance \"%s\" does not exist",
							d->execution_id, d->instance_id)));
		td = SPI_tuptable->tupdesc;
		tup = SPI_tuptable->vals[0];
		d->version = SPI_getvalue(tup, td, 1);
		d->status = SPI_getvalue(tup, td, 2);
		d->error = SPI_getvalue(tup, td, 3);
		completed_at = DatumGetTimestampTz(SPI_getbinval(tup, td, 4, &isnull));
		have_completed_at = !isnull;
		d->ended = true;
	}

	args[1] = Int32GetDatum(d->execution_id);
	ret = DxExecPlan(&history_plan, args, NULL, true, 0);
	DxExpect(ret, SPI_OK_SELECT, "reading the history");
	MemoryContextSwitchTo(callcxt); /* lanes and their strings outlive SPI_finish */
	td = SPI_tuptable->tupdesc;
	n = SPI_processed;
	if (n > 0)
	{
		int64		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[n - 1], td, 1, &isnull));

		nlane_of = last + 1;
		lane_of = palloc(sizeof(int) * nlane_of);
		memset(lane_of, -1, sizeof(int) * nlane_of);
	}
	subs = palloc(sizeof(DgRaise) * (n + 1));
	raises = palloc(sizeof(DgRaise) * (n + 1));
	d->t0 = d->tend = d->started_at = created_at;
	for (r = 0; r < n; r++)
	{
		HeapTuple	row = SPI_tuptable->vals[r];
		int64		event_id = DatumGetInt64(SPI_getbinval(row, td, 1, &isnull));
		char	   *type_name = SPI_getvalue(row, td, 2);
		Datum		src_d = SPI_getbinval(row, td, 3, &isnull);
		int64		src = isnull ? -1 : DatumGetInt64(src_d);
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(row, td, 4, &isnull));
		Datum		data_d = SPI_getbinval(row, td, 5, &isnull);
		Jsonb	   *data = isnull ? NULL : DatumGetJsonbP(data_d);
		DxEventType type = DxEventTypeFromName(type_name);
		DgLane	   *l = NULL;
		int64		v;
		int			lane;

		if (r == 0)
			d->t0 = d->tend = d->started_at = at;
		if (at > d->tend)
			d->tend = at;
		if (src >= 0 && src < nlane_of && lane_of[src] >= 0)
			l = &d->lanes[lane_of[src]];

		switch (type)
		{
			case EV_ORCHESTRATION_STARTED:
				d->started_at = at;
				break;
			case EV_ORCHESTRATION_COMPLETED:
			case EV_ORCHESTRATION_FAILED:
			case EV_ORCHESTRATION_CANCELLED:
			case EV_CONTINUED_AS_NEW:
				terminal_at = at;
				have_terminal = true;
				break;
			case EV_ACTIVITY_SCHEDULED:
				lane = AddLane(d, DG_ACTIVITY, event_id, at, DxJbGetText(data, "name"));
				if (event_id < nlane_of)
					lane_of[event_id] = lane;
				break;
			case EV_TIMER_CREATED:
				lane = AddLane(d, DG_TIMER, event_id, at, pstrdup("timer"));
				if (event_id < nlane_of)
					lane_of[event_id] = lane;
				if (lane >= 0 && DxJbGetInt(data, "delay_ms", &v))
					d->lanes[lane].delay_ms = v;
				break;
			case EV_EVENT_SUBSCRIBED:
				lane = AddLane(d, DG_EVENT, event_id, at, DxJbGetText(data, "name"));
				subs[nsubs].name = lane >= 0 ? d->lanes[lane].name : "";
				subs[nsubs].order = nsubs;
				subs[nsubs].at = at;
				subs[nsubs].lane = lane;
				nsubs++;
				break;
			case EV_EVENT_RAISED:
				{
					char	   *name = DxJbGetText(data, "name");

					raises[nraises].name = name ? name : "";
					raises[nraises].order = nraises;
					raises[nraises].at = at;
					raises[nraises].lane = -1;
					nraises++;
					break;
				}
			case EV_SUB_ORCHESTRATION_SCHEDULED:
				lane = AddLane(d, DG_CHILD, event_id, at, DxJbGetText(data, "name"));
				if (event_id < nlane_of)
					lane_of[event_id] = lane;
				if (lane >= 0)
					d->lanes[lane].detail = DxJbGetText(data, "instance_id");
				break;
			case EV_ACTIVITY_ATTEMPT_FAILED:
				if (l && l->kind == DG_ACTIVITY)
				{
					DgAttempt  *a = &l->attempts[l->nattempts - 1];

					a->end = Max(at, a->start);
					a->ended = true;
					a->failed = true;
					a->error = DxJbGetText(data, "error");
					if (DxJbGetInt(data, "retry_delay_ms", &v))
						a->retry_delay_ms = v;
					(void) NextAttempt(l);
				}
				break;
			case EV_ACTIVITY_COMPLETED:
			case EV_ACTIVITY_FAILED:
				if (l && l->kind == DG_ACTIVITY)
				{
					DgAttempt  *a = &l->attempts[l->nattempts - 1];
					bool		failed = type == EV_ACTIVITY_FAILED;

					/* the next attempt began at most when it ended */
					a->start = Min(a->start, at);
					a->end = at;
					a->ended = true;
					a->failed = failed;
					if (failed)
						a->error = l->error = DxJbGetText(data, "error");
					l->end = at;
					l->ended = true;
					l->outcome = failed ? DG_FAILED : DG_COMPLETED;
				}
				break;
			case EV_TIMER_FIRED:
				if (l && l->kind == DG_TIMER)
				{
					l->end = at;
					l->ended = true;
					l->outcome = DG_COMPLETED;
				}
				break;
			case EV_SUB_ORCHESTRATION_COMPLETED:
			case EV_SUB_ORCHESTRATION_FAILED:
				if (l && l->kind == DG_CHILD)
				{
					bool		failed = type == EV_SUB_ORCHESTRATION_FAILED;

					l->end = at;
					l->ended = true;
					l->outcome = failed ? DG_FAILED : DG_COMPLETED;
					if (failed)
						l->error = DxJbGetText(data, "error");
				}
				break;
			default:
				break;			/* detached starts, system calls: no lane */
		}
	}
	MatchEvents(d, subs, nsubs, raises, nraises);
	DxUnpinSearchPath(nest);
	SPI_finish();

	/* where the time axis ends: the execution's end, or now */
	if (d->ended)
	{
		if (have_terminal)
			d->tend = Max(d->tend, terminal_at);
		else if (have_completed_at)
			d->tend = Max(d->tend, completed_at);
	}
	else
		d->tend = Max(d->tend, GetCurrentTimestamp());
}

/* give each unfinished task its end: now while running, the execution's end after */
static void
CloseLanes(DgDiagram *d)
{
	int			i;

	for (i = 0; i < d->nlanes; i++)
	{
		DgLane	   *l = &d->lanes[i];

		if (l->kind == DG_ACTIVITY && !l->attempts[l->nattempts - 1].ended)
		{
			DgAttempt  *a = &l->attempts[l->nattempts - 1];

			a->start = Min(a->start, d->tend);
			a->end = d->tend;
		}
		if (l->ended)
			continue;
		l->end = d->tend;
		l->outcome = d->ended ? DG_CANCELLED : DG_PENDING;
	}
}

/*-------------------------------------------------------------------------
 * SVG
 *-------------------------------------------------------------------------
 */

/* the x of a point in time */
static double
TimeX(DgDiagram *d, TimestampTz t)
{
	double		span = (double) Max(d->tend - d->t0, 1000);

	if (t < d->t0)
		t = d->t0;
	if (t > d->tend)
		t = d->tend;
	return DG_CHART_X + (double) (t - d->t0) * DG_CHART_W / span;
}

/* x and width of a bar from t1 to t2, at least DG_MIN_BAR_W wide and inside the chart */
static void
BarX(DgDiagram *d, TimestampTz t1, TimestampTz t2, double *x, double *w)
{
	double		x1 = TimeX(d, t1);
	double		x2 = TimeX(d, Max(t1, t2));

	if (x2 - x1 < DG_MIN_BAR_W)
	{
		x2 = x1 + DG_MIN_BAR_W;
		if (x2 > DG_CHART_X + DG_CHART_W)
		{
			x2 = DG_CHART_X + DG_CHART_W;
			x1 = x2 - DG_MIN_BAR_W;
		}
	}
	*x = x1;
	*w = x2 - x1;
}

/* the class suffix of an instance or execution status */
static const char *
StatusClass(const char *status)
{
	static const char *const known[] = {"Running", "Completed", "Failed", "Cancelled",
	"Suspended", "ContinuedAsNew"};
	static const char *const classes[] = {"st-running", "st-completed", "st-failed", "st-cancelled",
	"st-suspended", "st-continued"};
	int			i;

	for (i = 0; i < lengthof(known); i++)
		if (strcmp(status, known[i]) == 0)
			return classes[i];
	return "st-other";
}

static const char dg_style[] =
"<style>\n"
"text{font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;font-size:12px;fill:#1f2937}\n"
".bg{fill:#ffffff}\n"
".heading{font-size:17px;font-weight:600}\n"
".version{font-size:13px;font-weight:400;fill:#6b7280}\n"
".meta{fill:#4b5563}\n"
".meta tspan.instance,.meta tspan.execution-id{fill:#111827;font-weight:600}\n"
".status{fill:#ffffff;font-weight:600;font-size:12px}\n"
".st-running{fill:#2563eb}.st-completed{fill:#16a34a}.st-failed{fill:#dc2626}\n"
".st-cancelled{fill:#6b7280}.st-suspended{fill:#d97706}.st-continued{fill:#7c3aed}.st-other{fill:#6b7280}\n"
".legend text{fill:#374151;font-size:11px}\n"
".stripe{fill:#f3f4f6}\n"
".grid{stroke:#e5e7eb;stroke-width:1}\n"
".axis line{stroke:#9ca3af;stroke-width:1}\n"
".axis text{fill:#6b7280;font-size:10px}\n"
".label{fill:#111827}\n"
".badge-activity{fill:#0ea5e9}.badge-timer{fill:#a855f7}.badge-event{fill:#f59e0b}.badge-sub_orchestration{fill:#14b8a6}\n"
"text.badge-text,.legend text.badge-text{fill:#ffffff;font-size:10px;font-weight:700}\n"
".completed{fill:#22c55e}\n"
".failed{fill:#ef4444}\n"
".attempt-failed{fill:#fca5a5;stroke:#ef4444;stroke-width:1}\n"
".pending{fill:url(#dg-pending);stroke:#2563eb;stroke-width:1}\n"
".cancelled{fill:#e5e7eb;stroke:#9ca3af;stroke-width:1;stroke-dasharray:3 2}\n"
".backoff{stroke:#ef4444;stroke-width:1;stroke-dasharray:2 2}\n"
".dur,.eid{fill:#6b7280;font-size:10px}\n"
".dur.inside{fill:#111827;font-weight:600;paint-order:stroke;stroke:#ffffff;stroke-width:3px;stroke-linejoin:round}\n"
".now{stroke:#2563eb;stroke-width:1;stroke-dasharray:4 3}\n"
".now-label{fill:#2563eb;font-size:10px}\n"
".empty,.more{fill:#6b7280;font-style:italic}\n"
"</style>\n";

/* the time axis: a line, ticks and labels at y (labels above when top) */
static void
SvgAxis(StringInfo b, DgDiagram *d, int y, bool top, int grid_from, int grid_to)
{
	static const int64 steps_ms[] = {1, 2, 5, 10, 20, 50, 100, 200, 500,
		1000, 2000, 5000, 10000, 15000, 30000,
		60000, 120000, 300000, 600000, 900000, 1800000,
		3600000, 7200000, 10800000, 21600000, 43200000,
	86400000, 172800000, 432000000, 864000000, 1728000000};
	int64		span_ms = Max((d->tend - d->t0) / 1000, 1);
	int64		step = 0;
	int64		unit;
	const char *unit_name;
	int			decimals = 0;
	int64		t;
	int			i;

	for (i = 0; i < lengthof(steps_ms); i++)
		if (span_ms / steps_ms[i] < DG_MAX_TICKS)
		{
			step = steps_ms[i];
			break;
		}
	if (step == 0)
		step = (span_ms / (DG_MAX_TICKS - 1) / 86400000 + 1) * 86400000;

	/* the unit of the labels follows the span */
	if (span_ms < 1000)
		unit = 1, unit_name = "ms";
	else if (span_ms < 2 * 60000)
		unit = 1000, unit_name = "s";
	else if (span_ms < 2 * 3600000)
		unit = 60000, unit_name = "min";
	else if (span_ms < 2 * 86400000LL)
		unit = 3600000, unit_name = "h";
	else
		unit = 86400000, unit_name = "d";
	{
		int64		scale = 1;

		while (decimals < 3 && (step * scale) % unit != 0)
			decimals++, scale *= 10;
	}

	if (grid_to > grid_from)
	{
		appendStringInfoString(b, "<g class=\"grid-lines\">\n");
		for (t = 0; t <= span_ms; t += step)
		{
			double		x = DG_CHART_X + (double) t * DG_CHART_W / span_ms;

			appendStringInfo(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
							 x, grid_from, x, grid_to);
		}
		appendStringInfoString(b, "</g>\n");
	}
	appendStringInfoString(b, "<g class=\"axis\">\n");
	appendStringInfo(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
					 DG_CHART_X, y, DG_CHART_X + DG_CHART_W, y);
	for (t = 0; t <= span_ms; t += step)
	{
		double		x = DG_CHART_X + (double) t * DG_CHART_W / span_ms;

		appendStringInfo(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
						 x, y, x, top ? y - 4 : y + 4);
		appendStringInfo(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x, top ? y - 7 : y + 15);
		if (t == 0)
			appendStringInfoString(b, "0");
		else
		{
			char		num[32];
			char	   *end;

			/* "1.5 min", "2 min": the decimals the step needs, less trailing zeros */
			snprintf(num, sizeof(num), "%.*f", decimals, (double) t / unit);
			end = num + strlen(num);
			if (strchr(num, '.'))
			{
				while (end[-1] == '0')
					*--end = '\0';
				if (end[-1] == '.')
					*--end = '\0';
			}
			appendStringInfo(b, "%s %s", num, unit_name);
		}
		appendStringInfoString(b, "</text>\n");
	}
	appendStringInfoString(b, "</g>\n");
}

/* the tooltip of a lane: what it is and what happened */
static void
LaneTooltip(StringInfo b, DgDiagram *d, DgLane *l)
{
	StringInfoData s;

	initStringInfo(&s);
	switch (l->kind)
	{
		case DG_ACTIVITY:
			appendStringInfo(&s, "activity %s", l->name);
			break;
		case DG_TIMER:
			appendStringInfoString(&s, "timer of ");
			FormatDuration(&s, l->delay_ms * 1000);
			break;
		case DG_EVENT:
			appendStringInfo(&s, "wait for event %s", l->name);
			break;
		case DG_CHILD:
			appendStringInfo(&s, "sub-orchestration %s", l->name);
			if (l->detail)
				appendStringInfo(&s, " (instance %s)", l->detail);
			break;
		default:
			break;
	}
	appendStringInfo(&s, ", event " INT64_FORMAT ": %s", l->event_id, dg_outcomes[l->outcome]);
	if (l->outcome == DG_PENDING)
		appendStringInfoString(&s, " for ");
	else if (l->outcome == DG_CANCELLED)
		appendStringInfoString(&s, " (no completion before the execution ended) after ");
	else
		appendStringInfoString(&s, " after ");
	FormatDuration(&s, l->end - l->start);
	if (l->kind == DG_ACTIVITY && l->nattempts > 1)
		appendStringInfo(&s, " in %d attempts", l->nattempts);
	appendStringInfoString(&s, "; scheduled at +");
	FormatDuration(&s, l->start - d->t0);
	if (l->early_event)
		appendStringInfoString(&s, "; the event had arrived before the wait began");
	XmlText(b, s.data, 0);
	if (l->error)
	{
		appendStringInfoString(b, "; error: ");
		XmlText(b, l->error, DG_TOOLTIP_CHARS);
	}
	pfree(s.data);
}

/* a bar with its own tooltip; attempt > 0 marks an activity attempt */
static void
SvgBar(StringInfo b, DgDiagram *d, int y, TimestampTz t1, TimestampTz t2,
	   const char *cls, int attempt, const char *what, const char *error)
{
	double		x;
	double		w;
	StringInfoData s;

	BarX(d, t1, t2, &x, &w);
	appendStringInfo(b, "<rect class=\"bar %s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\"",
					 cls, x, y, w, DG_BAR_H);
	if (attempt > 0)
		appendStringInfo(b, " data-attempt=\"%d\"", attempt);
	appendStringInfoString(b, "><title>");
	initStringInfo(&s);
	appendStringInfo(&s, "%s: ", what);
	FormatDuration(&s, Max(t2 - t1, 0));
	appendStringInfoString(&s, ", from +");
	FormatDuration(&s, t1 - d->t0);
	XmlText(b, s.data, 0);
	if (error)
	{
		appendStringInfoString(b, "; error: ");
		XmlText(b, error, DG_TOOLTIP_CHARS);
	}
	appendStringInfoString(b, "</title></rect>\n");
	pfree(s.data);
}

/* one lane: tooltip, badge, label, bars, and a note after the bar */
static void
SvgLane(StringInfo b, DgDiagram *d, DgLane *l, int top)
{
	int			bar_y = top + (DG_LANE_H - DG_BAR_H) / 2;
	double		x;
	double		w;
	StringInfoData note;

	appendStringInfo(b, "<g class=\"lane\" data-kind=\"%s\" data-outcome=\"%s\"",
					 dg_kinds[l->kind].kind, dg_outcomes[l->outcome]);
	if (l->kind == DG_ACTIVITY)
		appendStringInfo(b, " data-attempts=\"%d\"", l->nattempts);
	appendStringInfoString(b, "><title>");
	LaneTooltip(b, d, l);
	appendStringInfoString(b, "</title>\n");
	appendStringInfo(b, "<rect class=\"badge badge-%s\" x=\"%d\" y=\"%d\" width=\"16\" height=\"14\" rx=\"3\"/>",
					 dg_kinds[l->kind].kind, DG_MARGIN + 4, top + 3);
	appendStringInfo(b, "<text class=\"badge-text\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
					 DG_MARGIN + 12, top + 14, dg_kinds[l->kind].badge);
	appendStringInfo(b, "<text class=\"label\" x=\"%d\" y=\"%d\">", DG_LABEL_X, top + 14);
	if (l->kind == DG_TIMER)
	{
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, "timer ");
		FormatDuration(&s, l->delay_ms * 1000);
		XmlText(b, s.data, DG_LABEL_CHARS);
		pfree(s.data);
	}
	else
		XmlText(b, l->name, DG_LABEL_CHARS);
	appendStringInfoString(b, "</text>\n");
	/* the scheduling event's id, to find the lane's events in get_history */
	appendStringInfo(b, "<text class=\"eid\" x=\"%d\" y=\"%d\" text-anchor=\"end\">#" INT64_FORMAT "</text>\n",
					 DG_CHART_X - 8, top + 14, l->event_id);

	if (l->kind == DG_ACTIVITY)
	{
		int			i;

		for (i = 0; i < l->nattempts; i++)
		{
			DgAttempt  *a = &l->attempts[i];
			bool		last = i == l->nattempts - 1;
			char		what[64];

			snprintf(what, sizeof(what), "attempt %d %s", i + 1,
					 !last ? "failed" : dg_outcomes[l->outcome]);
			SvgBar(b, d, bar_y, a->start, last ? l->end : a->end,
				   last ? dg_outcomes[l->outcome] : "attempt-failed", i + 1, what, a->error);
			if (!last && a->retry_delay_ms > 0)
			{
				/* the retry's backoff: from the failure to the next attempt */
				double		x1 = TimeX(d, a->end);
				double		x2 = TimeX(d, l->attempts[i + 1].start);

				if (x2 - x1 >= 1.0)
					appendStringInfo(b, "<line class=\"backoff\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n",
									 x1, bar_y + DG_BAR_H / 2, x2, bar_y + DG_BAR_H / 2);
			}
		}
	}
	else
		SvgBar(b, d, bar_y, l->start, l->end, dg_outcomes[l->outcome], 0,
			   dg_outcomes[l->outcome], l->error);

	/* after the bar (or before it, near the right edge): duration and state */
	initStringInfo(&note);
	FormatDuration(&note, l->end - l->start);
	if (l->kind == DG_ACTIVITY && l->nattempts > 1)
		appendStringInfo(&note, ", %d attempts", l->nattempts);
	if (l->outcome == DG_PENDING || l->outcome == DG_CANCELLED)
		appendStringInfo(&note, ", %s", dg_outcomes[l->outcome]);
	BarX(d, l->start, l->end, &x, &w);
	if (x + w + 6 + note.len * DG_NOTE_CHAR_W <= DG_WIDTH - 4)
		appendStringInfo(b, "<text class=\"dur\" x=\"%.1f\" y=\"%d\">%s</text>\n",
						 x + w + 5, top + 14, note.data);
	else if (x - 6 - note.len * DG_NOTE_CHAR_W >= DG_CHART_X)
		appendStringInfo(b, "<text class=\"dur\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
						 x - 5, top + 14, note.data);
	else
		appendStringInfo(b, "<text class=\"dur inside\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
						 x + w - 5, top + 14, note.data);
	pfree(note.data);
	appendStringInfoString(b, "</g>\n");
}

/* the legend: outcomes, then the kinds' badges */
static void
SvgLegend(StringInfo b, int y)
{
	static const char *const items[][2] = {
		{"completed", "completed"}, {"failed", "failed"}, {"attempt-failed", "failed attempt (retried)"},
		{"pending", "pending"}, {"cancelled", "cancelled / not completed"}};
	int			x = DG_MARGIN;
	int			i;

	appendStringInfoString(b, "<g class=\"legend\">\n");
	for (i = 0; i < lengthof(items); i++)
	{
		appendStringInfo(b, "<rect class=\"bar %s\" x=\"%d\" y=\"%d\" width=\"18\" height=\"10\" rx=\"2\"/>"
						 "<text x=\"%d\" y=\"%d\">%s</text>\n",
						 items[i][0], x, y - 9, x + 23, y, items[i][1]);
		x += 23 + (int) (strlen(items[i][1]) * 5.8) + 18;
	}
	x += 12;
	for (i = 0; i < DG__KINDS; i++)
	{
		const char *what = i == DG_CHILD ? "sub-orchestration" : i == DG_EVENT ? "event wait" : dg_kinds[i].kind;

		appendStringInfo(b, "<rect class=\"badge badge-%s\" x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" rx=\"3\"/>"
						 "<text class=\"badge-text\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>"
						 "<text x=\"%d\" y=\"%d\">%s</text>\n",
						 dg_kinds[i].kind, x, y - 10, x + 7, y - 1, dg_kinds[i].badge,
						 x + 19, y, what);
		x += 19 + (int) (strlen(what) * 5.8) + 16;
	}
	appendStringInfoString(b, "</g>\n");
}

/* the whole SVG document */
static char *
RenderSvg(DgDiagram *d)
{
	StringInfoData b;
	int			lanes_end = DG_LANES_Y + d->nlanes * DG_LANE_H;
	int			bottom_axis = d->nlanes > 25;
	int			height;
	int			i;
	double		x;
	double		w;
	StringInfoData s;

	if (d->nlanes == 0)
		lanes_end += DG_LANE_H;
	if (d->lanes_not_shown > 0)
		lanes_end += DG_LANE_H;
	height = lanes_end + (bottom_axis ? 36 : 16);

	initStringInfo(&b);
	appendStringInfoString(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	appendStringInfo(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"duroxide-history\""
					 " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
					 DG_WIDTH, height, DG_WIDTH, height);
	appendStringInfoString(&b, "<title>duroxide history of ");
	XmlText(&b, d->instance_id, 0);
	appendStringInfo(&b, ", execution %d (", d->execution_id);
	XmlText(&b, d->name, 0);
	appendStringInfoString(&b, ")</title>\n");
	appendStringInfoString(&b, dg_style);
	appendStringInfoString(&b, "<defs><pattern id=\"dg-pending\" width=\"6\" height=\"6\""
						   " patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
						   "<rect width=\"6\" height=\"6\" fill=\"#bfdbfe\"/>"
						   "<rect width=\"3\" height=\"6\" fill=\"#60a5fa\"/></pattern></defs>\n");
	appendStringInfo(&b, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"%d\" height=\"%d\"/>\n", DG_WIDTH, height);

	/* header: orchestration and version, instance, execution, status */
	appendStringInfo(&b, "<text class=\"heading\" x=\"%d\" y=\"30\"><tspan class=\"orchestration\">", DG_MARGIN);
	XmlText(&b, d->name, 60);
	appendStringInfoString(&b, "</tspan><tspan class=\"version\" dx=\"8\">");
	XmlText(&b, d->version, 20);
	appendStringInfoString(&b, "</tspan></text>\n");
	appendStringInfo(&b, "<text class=\"meta\" x=\"%d\" y=\"54\">instance <tspan class=\"instance\">", DG_MARGIN);
	XmlText(&b, d->instance_id, 70);
	appendStringInfo(&b, "</tspan>  &#183;  execution <tspan class=\"execution-id\">%d</tspan> of %d"
					 "  &#183;  started ", d->execution_id, d->current_execution);
	initStringInfo(&s);
	FormatUtc(&s, d->started_at);
	appendStringInfoString(&b, s.data);
	appendStringInfoString(&b, "  &#183;  ");
	resetStringInfo(&s);
	FormatDuration(&s, d->tend - d->t0);
	appendStringInfo(&b, "%s %s  &#183;  %d task%s</text>\n",
					 d->ended ? "took" : "running for", s.data, d->nlanes + d->lanes_not_shown,
					 d->nlanes + d->lanes_not_shown == 1 ? "" : "s");
	{
		int			pw = (int) (strlen(d->status) * 7.2) + 24;

		appendStringInfo(&b, "<g class=\"status-pill\"><rect class=\"pill %s\" x=\"%d\" y=\"14\" width=\"%d\" height=\"22\" rx=\"11\"/>"
						 "<text class=\"status\" x=\"%d\" y=\"29\" text-anchor=\"middle\">",
						 StatusClass(d->status), DG_WIDTH - DG_MARGIN - pw, pw, DG_WIDTH - DG_MARGIN - pw / 2);
		XmlText(&b, d->status, 30);
		appendStringInfoString(&b, "</text></g>\n");
	}
	if (d->error)
	{
		appendStringInfo(&b, "<text class=\"meta\" x=\"%d\" y=\"74\"><title>", DG_MARGIN);
		XmlText(&b, d->error, DG_TOOLTIP_CHARS);
		appendStringInfoString(&b, "</title>error: ");
		XmlText(&b, d->error, 150);
		appendStringInfoString(&b, "</text>\n");
	}
	SvgLegend(&b, 98);

	/* alternating lane backgrounds, grid lines and the axis under the bars */
	appendStringInfoString(&b, "<g class=\"stripes\">\n");
	for (i = 0; i < d->nlanes; i += 2)
		appendStringInfo(&b, "<rect class=\"stripe\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
						 DG_MARGIN, DG_LANES_Y + i * DG_LANE_H, DG_WIDTH - 2 * DG_MARGIN, DG_LANE_H);
	appendStringInfoString(&b, "</g>\n");
	SvgAxis(&b, d, DG_AXIS_Y, true, DG_AXIS_Y, lanes_end);
	if (bottom_axis)
		SvgAxis(&b, d, lanes_end + 4, false, 0, 0);

	/* the execution's own row */
	appendStringInfo(&b, "<g class=\"execution\" data-status=\"");
	XmlText(&b, d->status, 30);
	appendStringInfoString(&b, "\"><title>");
	resetStringInfo(&s);
	appendStringInfo(&s, "execution %d: %s, ", d->execution_id, d->status);
	FormatDuration(&s, d->tend - d->t0);
	XmlText(&b, s.data, 0);
	appendStringInfoString(&b, "</title>");
	appendStringInfo(&b, "<text class=\"label\" x=\"%d\" y=\"%d\" font-weight=\"600\">execution</text>",
					 DG_MARGIN + 4, DG_EXEC_Y + 13);
	BarX(d, d->t0, d->tend, &x, &w);
	appendStringInfo(&b, "<rect class=\"bar %s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"6\" opacity=\"0.8\"/>",
					 StatusClass(d->status), x, DG_EXEC_Y + 5, w);
	appendStringInfoString(&b, "</g>\n");

	for (i = 0; i < d->nlanes; i++)
		SvgLane(&b, d, &d->lanes[i], DG_LANES_Y + i * DG_LANE_H);
	if (d->nlanes == 0)
		appendStringInfo(&b, "<text class=\"empty\" x=\"%d\" y=\"%d\">no activity, timer, event wait or"
						 " sub-orchestration in this execution</text>\n", DG_LABEL_X, DG_LANES_Y + 14);
	if (d->lanes_not_shown > 0)
		appendStringInfo(&b, "<text class=\"more\" x=\"%d\" y=\"%d\">%d more tasks not shown"
						 " (the diagram draws the first %d)</text>\n",
						 DG_LABEL_X, lanes_end - DG_LANE_H + 14, d->lanes_not_shown, DG_MAX_LANES);

	/* now, for an execution still running */
	if (!d->ended)
	{
		double		nx = TimeX(d, d->tend);

		appendStringInfo(&b, "<line class=\"now\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
						 "<text class=\"now-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">now</text>\n",
						 nx, DG_EXEC_Y, nx, lanes_end, nx - 3, DG_EXEC_Y + 4);
	}
	appendStringInfoString(&b, "</svg>\n");
	pfree(s.data);
	return b.data;
}

/*-------------------------------------------------------------------------
 * Mermaid
 *-------------------------------------------------------------------------
 */

/* a gantt chart: a section per kind of lane, a task per lane */
static char *
RenderMermaid(DgDiagram *d)
{
	StringInfoData b;
	int64		span_ms = (d->tend - d->t0) / 1000;
	int			k;
	int			i;

	initStringInfo(&b);
	appendStringInfoString(&b, "gantt\n    title ");
	MmText(&b, d->name, DG_MM_CHARS);
	appendStringInfoChar(&b, ' ');
	MmText(&b, d->version, 20);
	appendStringInfoString(&b, " - instance ");
	MmText(&b, d->instance_id, DG_MM_CHARS);
	appendStringInfo(&b, " - execution %d - ", d->execution_id);
	MmText(&b, d->status, 30);
	appendStringInfoString(&b, "\n    dateFormat x\n");
	appendStringInfo(&b, "    axisFormat %s\n",
					 span_ms < 10000 ? "%M:%S.%L" : span_ms < 6 * 3600000 ? "%H:%M:%S" : "%d %H:%M");
	appendStringInfoString(&b, "    todayMarker off\n");
	for (k = 0; k < DG__KINDS; k++)
	{
		bool		any = false;

		for (i = 0; i < d->nlanes; i++)
		{
			DgLane	   *l = &d->lanes[i];
			int64		start = UnixMs(l->start);
			int64		end = Max(UnixMs(l->end), start + 1);
			static const char *const tags[] = {
				[DG_PENDING] = "active, ",
				[DG_COMPLETED] = "done, ",
				[DG_FAILED] = "crit, done, ",
				[DG_CANCELLED] = "",
			};

			if (l->kind != (DgKind) k)
				continue;
			if (!any)
				appendStringInfo(&b, "    section %s\n", dg_kinds[k].section);
			any = true;
			appendStringInfo(&b, "    %s ", dg_kinds[k].word);
			if (l->kind == DG_TIMER)
			{
				StringInfoData s;

				initStringInfo(&s);
				FormatDuration(&s, l->delay_ms * 1000);
				MmText(&b, s.data, DG_MM_CHARS);
				pfree(s.data);
			}
			else
				MmText(&b, l->name, DG_MM_CHARS);
			if (l->kind == DG_ACTIVITY && l->nattempts > 1)
				appendStringInfo(&b, " (%d attempts)", l->nattempts);
			if (l->outcome != DG_COMPLETED)
				appendStringInfo(&b, " (%s)", dg_outcomes[l->outcome]);
			appendStringInfo(&b, " :%s%s" INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT "\n",
							 tags[l->outcome], dg_kinds[k].id, l->event_id, start, end);
		}
	}
	if (d->lanes_not_shown > 0)
		appendStringInfo(&b, "    %%%% %d more tasks not shown\n", d->lanes_not_shown);
	return b.data;
}

/*-------------------------------------------------------------------------
 * SQL
 *-------------------------------------------------------------------------
 */

/* SQL: duroxide.history_diagram(instance_id, format, execution_id) */
Datum
duroxide_history_diagram(PG_FUNCTION_ARGS)
{
	DgDiagram	d;
	char	   *format;
	bool		mermaid;
	char	   *out;

	memset(&d, 0, sizeof(d));
	d.instance_id = DxTextArg(fcinfo, 0);
	if (d.instance_id == NULL || d.instance_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("instance id must not be null or empty")));
	format = DxTextArg(fcinfo, 1);
	if (format != NULL && pg_strcasecmp(format, "svg") == 0)
		mermaid = false;
	else if (format != NULL && pg_strcasecmp(format, "mermaid") == 0)
		mermaid = true;
	else
		ereport(ERROR,
				(errcode(format ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 format ? errmsg("unknown history diagram format \"%s\"", format)
				 : errmsg("history diagram format must not be null"),
				 errhint("Use 'svg' (a standalone SVG document) or 'mermaid' (a Mermaid gantt chart).")));
	if (!PG_ARGISNULL(2))
		d.execution_id = PG_GETARG_INT32(2);

	ReadExecution(&d, !PG_ARGISNULL(2));
	CloseLanes(&d);
	out = mermaid ? RenderMermaid(&d) : RenderSvg(&d);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}
