/*-------------------------------------------------------------------------
 * cron.c
 *		Schedule expressions: parsing of five-field cron expressions and of
 *		@every <interval>, and the computation of fire times in a time zone
 *		(PostgreSQL's tz database).  No SQL, no catalog access: schedule.c
 *		stores and fires schedules, this file only computes.
 *
 * Cron: minute hour day-of-month month day-of-week, each a comma-separated
 * list of `*`, `N`, `N-M`, each optionally `/step` (`N/step` is N to the
 * field's end).  Months may be JAN-DEC, days of the week SUN-SAT (any
 * case); day of week 7 is Sunday as 0 is.  When both day fields are
 * restricted (neither starts with `*`), a day matches if EITHER matches
 * (the Vixie cron rule); otherwise both must match.  @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight and @hourly are the usual macros.
 *
 * Fire times of a cron expression are local wall-clock minutes of the
 * schedule's time zone.  Daylight saving:
 *	 - a local time that does not exist (skipped by a spring-forward gap)
 *	   fires once, at the first instant after the gap (the transition
 *	   itself: 02:30 on a night that jumps from 02:00 to 03:00 fires at
 *	   03:00); several skipped times of one gap fire once together;
 *	 - a local time that exists twice (repeated by a fall-back) fires once,
 *	   at its first occurrence; the repeated hour fires nothing.
 *
 * @every <interval>: fixed elapsed time (a day counts as 24 hours; months
 * and years, which have no fixed length, are refused), independent of the
 * time zone: fire times are anchor + k * interval, k >= 1, where the anchor
 * is the schedule's creation time (schedule.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "cron.h"

/* one field of a cron expression */
typedef struct CronField
{
	const char *name;
	int			min;
	int			max;			/* largest value accepted (day of week: 7) */
	const char *const *names;	/* names of min, min+1, ... or NULL */
	const char *range_text;		/* for the error detail */
} CronField;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
"JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const CronField fields[5] = {
	{"minute", 0, 59, NULL, "0-59"},
	{"hour", 0, 23, NULL, "0-23"},
	{"day-of-month", 1, 31, NULL, "1-31"},
	{"month", 1, 12, month_names, "1-12 or JAN-DEC"},
	{"day-of-week", 0, 7, day_names, "0-7 (0 and 7 are Sunday) or SUN-SAT"},
};

/* the macros and what they stand for */
static const char *const macros[][2] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* raise the error for a bad value of a field */
static void
BadValue(const char *text, const CronField *f, const char *item, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s value \"%s\" in schedule \"%s\"", f->name, item, text),
			 errdetail("%s The %s field takes %s, lists (a,b), ranges (a-b) and steps (*/n, a-b/n).",
					   why, f->name, f->range_text)));
}

/* parse one value (number or name) of a field at *p; advances *p */
static int
ParseValue(const char *text, const CronField *f, const char *item, const char **p)
{
	const char *s = *p;
	long		v;

	if (isdigit((unsigned char) *s))
	{
		v = 0;
		while (isdigit((unsigned char) *s))
		{
			v = v * 10 + (*s - '0');
			if (v > 1000)
				break;
			s++;
		}
		if (isdigit((unsigned char) *s) || v < f->min || v > f->max)
			BadValue(text, f, item, "The value is out of range.");
		*p = s;
		return (int) v;
	}
	if (f->names && isalpha((unsigned char) s[0]) && isalpha((unsigned char) s[1]) &&
		isalpha((unsigned char) s[2]) && !isalpha((unsigned char) s[3]))
	{
		for (int i = 0; f->names[i]; i++)
			if (pg_strncasecmp(s, f->names[i], 3) == 0)
			{
				*p = s + 3;
				return f->min + i;
			}
	}
	BadValue(text, f, item, f->names ? "It is neither a number nor a known name." : "It is not a number.");
	return 0;					/* not reached */
}

/* parse one comma-separated item of a field into *bits */
static void
ParseItem(const char *text, const CronField *f, const char *item, uint64 *bits)
{
	const char *p = item;
	int			lo,
				hi,
				step = 1;

	if (*p == '*')
	{
		lo = f->min;
		hi = f->names == day_names ? 6 : f->max;
		p++;
	}
	else
	{
		lo = hi = ParseValue(text, f, item, &p);
		if (*p == '-')
		{
			p++;
			hi = ParseValue(text, f, item, &p);
			if (hi < lo)
				BadValue(text, f, item, "A range must not end before it starts.");
		}
		else if (*p == '/')
			hi = f->names == day_names ? 6 : f->max;
	}
	if (*p == '/')
	{
		long		v = 0;

		p++;
		if (!isdigit((unsigned char) *p))
			BadValue(text, f, item, "A step must be a positive number.");
		while (isdigit((unsigned char) *p) && v <= 1000)
			v = v * 10 + (*p++ - '0');
		if (v < 1 || v > f->max)
			BadValue(text, f, item, "The step is out of range.");
		step = (int) v;
	}
	if (*p != '\0')
		BadValue(text, f, item, "It is not a value, a range or a step.");
	for (int v = lo; v <= hi; v += step)
		*bits |= UINT64CONST(1) << (f->names == day_names ? v % 7 : v);
}

/* parse one field (a comma-separated list) */
static uint64
ParseField(const char *text, const CronField *f, char *field)
{
	uint64		bits = 0;
	char	   *whole = pstrdup(field);
	char	   *item = field;

	for (;;)
	{
		char	   *comma = strchr(item, ',');

		if (comma)
			*comma = '\0';
		if (*item == '\0')
			BadValue(text, f, whole, "A list must not have an empty element.");
		ParseItem(text, f, item, &bits);
		if (!comma)
			break;
		item = comma + 1;
	}
	pfree(whole);
	return bits;
}

/* error context while the interval of @every is read */
static void
EveryContext(void *arg)
{
	errcontext("schedule \"%s\"", (const char *) arg);
}

/* parse @every <interval> */
static void
ParseEvery(const char *text, const char *rest, DxCron *cron)
{
	ErrorContextCallback cb;
	Interval   *iv;
	int64		us;

	while (isspace((unsigned char) *rest))
		rest++;
	if (*rest == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" has no interval", text),
				 errhint("Write @every followed by a PostgreSQL interval, e.g. \"@every 10 minutes\".")));
	cb.callback = EveryContext;
	cb.arg = (void *) text;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(rest),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	error_context_stack = cb.previous;
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("interval \"%s\" of schedule \"%s\" uses months or years", rest, text),
				 errdetail("@every counts fixed elapsed time, and months and years have no fixed length."),
				 errhint("Use a cron expression instead, e.g. \"0 0 1 * *\" for the first of every month.")));
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &us) ||
		pg_add_s64_overflow(us, iv->time, &us) ||
		us < USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("interval \"%s\" of schedule \"%s\" is out of range", rest, text),
				 errdetail("An @every interval is at least 1 second.")));
	cron->every = true;
	cron->every_us = us;
}

/* parse a schedule expression; raises invalid_parameter_value naming what is wrong */
void
DxCronParse(const char *text, DxCron *cron)
{
	char	   *copy;
	char	   *field[5];
	int			n = 0;
	char	   *p;

	memset(cron, 0, sizeof(*cron));
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be null")));
	while (isspace((unsigned char) *text))
		text++;
	if (pg_strncasecmp(text, "@every", 6) == 0 &&
		(text[6] == '\0' || isspace((unsigned char) text[6])))
	{
		ParseEvery(text, text + 6, cron);
		return;
	}
	if (text[0] == '@')
	{
		const char *macro = NULL;
		size_t		len = strcspn(text, " \t\n\r");

		for (int i = 0; i < lengthof(macros); i++)
			if (strlen(macros[i][0]) == len && pg_strncasecmp(text, macros[i][0], len) == 0 &&
				text[len + strspn(text + len, " \t\n\r")] == '\0')
				macro = macros[i][1];
		if (macro == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown schedule macro in \"%s\"", text),
					 errhint("Use @every <interval>, @hourly, @daily, @weekly, @monthly or @yearly, or five cron fields.")));
		text = macro;
	}
	copy = pstrdup(text);
	for (p = strtok(copy, " \t\n\r"); p; p = strtok(NULL, " \t\n\r"))
	{
		if (n < 5)
			field[n] = p;
		n++;
	}
	if (n != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%s\": a cron expression has five fields, not %d", text, n),
				 errhint("The fields are minute hour day-of-month month day-of-week, e.g. \"30 2 * * MON-FRI\"; "
						 "or write @every <interval>.")));
	cron->days_star = field[2][0] == '*';
	cron->weekdays_star = field[4][0] == '*';
	cron->minutes = ParseField(text, &fields[0], field[0]);
	cron->hours = (uint32) ParseField(text, &fields[1], field[1]);
	cron->days = (uint32) ParseField(text, &fields[2], field[2]);
	cron->months = (uint32) ParseField(text, &fields[3], field[3]);
	cron->weekdays = (uint32) ParseField(text, &fields[4], field[4]);
	pfree(copy);
}

/* a time zone of PostgreSQL's tz database; raises invalid_parameter_value */
pg_tz *
DxCronTimeZone(const char *name)
{
	pg_tz	   *tz = name && *name ? pg_tzset(name) : NULL;

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name ? name : ""),
				 errhint("Use a name of the tz database, e.g. \"Europe/Berlin\" or \"UTC\" (see pg_timezone_names).")));
	if (!pg_tz_acceptable(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" appears to use leap seconds", name),
				 errdetail("PostgreSQL does not support leap seconds.")));
	return tz;
}

/* ------------------------------------------------------------------------
 * Fire times.  Instants are whole seconds since the Unix epoch (pg_time_t);
 * a local wall-clock time is the same count read as if it were UTC.
 * ------------------------------------------------------------------------ */

/* the UTC offset (seconds east) in effect at an instant */
static int64
OffsetAt(pg_tz *tz, pg_time_t t)
{
	struct pg_tm *tm = pg_localtime(&t, tz);

	return tm ? tm->tm_gmtoff : 0;
}

/* the local wall-clock time of an instant */
static int64
LocalOf(pg_tz *tz, pg_time_t t)
{
	return t + OffsetAt(tz, t);
}

/*
 * The instant of a local wall-clock time: its first occurrence when it
 * exists (twice in a fall-back), else the end of the gap that skips it.
 * The offsets considered are those in effect 15 hours before and 13 hours
 * after it (UTC offsets lie between -12 and +14 hours).
 */
static pg_time_t
InstantOf(pg_tz *tz, int64 local)
{
	int64		offs[3];
	pg_time_t	best = 0,
				lo,
				hi;
	bool		found = false;

	offs[0] = OffsetAt(tz, local - 15 * SECS_PER_HOUR);
	offs[1] = OffsetAt(tz, local);
	offs[2] = OffsetAt(tz, local + 13 * SECS_PER_HOUR);
	for (int i = 0; i < 3; i++)
	{
		pg_time_t	c = local - offs[i];

		if (LocalOf(tz, c) == local && (!found || c < best))
		{
			best = c;
			found = true;
		}
	}
	if (found)
		return best;

	/* a gap: the first instant whose local time is past it */
	lo = hi = local - offs[0];
	for (int i = 1; i < 3; i++)
	{
		lo = Min(lo, local - offs[i]);
		hi = Max(hi, local - offs[i]);
	}
	if (LocalOf(tz, hi) <= local)
		return hi;				/* not a gap we understand: never earlier */
	while (hi - lo > 1)
	{
		pg_time_t	mid = lo + (hi - lo) / 2;

		if (LocalOf(tz, mid) > local)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* seconds since the Unix epoch, rounded down, of a timestamptz */
static pg_time_t
FloorSeconds(TimestampTz t)
{
	int64		s = t / USECS_PER_SEC;

	if (t < 0 && t % USECS_PER_SEC != 0)
		s--;
	return s + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

/* local seconds of the start of a day (Unix day number) */
#define DAY_START(day) ((int64) (day) * SECS_PER_DAY)

/* whether a day matches the two day fields */
static bool
DayMatches(const DxCron *cron, int julian, int mday)
{
	bool		dom = (cron->days >> mday) & 1;
	bool		dow = (cron->weekdays >> j2day(julian)) & 1;

	if (cron->days_star || cron->weekdays_star)
		return dom && dow;
	return dom || dow;
}

/* the first fire time of a cron expression after an instant (DX_CRON_NEVER: none) */
static TimestampTz
CronNext(const DxCron *cron, pg_tz *tz, TimestampTz after)
{
	pg_time_t	after_s = FloorSeconds(after);
	int64		start = LocalOf(tz, after_s);
	int64		cand = (start - ((start % 60) + 60) % 60) + 60;
	int64		limit = start + (int64) DX_CRON_SEARCH_YEARS * 366 * SECS_PER_DAY;

	while (cand <= limit)
	{
		int64		day = cand >= 0 ? cand / SECS_PER_DAY : -((-cand + SECS_PER_DAY - 1) / SECS_PER_DAY);
		int64		secs = cand - DAY_START(day);
		int			julian = (int) (day + UNIX_EPOCH_JDATE);
		int			year,
					month,
					mday,
					hour = (int) (secs / SECS_PER_HOUR),
					minute = (int) ((secs % SECS_PER_HOUR) / SECS_PER_MINUTE);

		j2date(julian, &year, &month, &mday);
		if (!((cron->months >> month) & 1))
		{
			cand = DAY_START(date2j(month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1)
							 - UNIX_EPOCH_JDATE);
			continue;
		}
		if (!DayMatches(cron, julian, mday))
		{
			cand = DAY_START(day + 1);
			continue;
		}
		if (!((cron->hours >> hour) & 1))
		{
			cand = DAY_START(day) + (int64) (hour + 1) * SECS_PER_HOUR;
			continue;
		}
		if (!((cron->minutes >> minute) & 1))
		{
			cand += SECS_PER_MINUTE;
			continue;
		}
		{
			TimestampTz t = time_t_to_timestamptz(InstantOf(tz, cand));

			if (t > after)
				return t;
		}
		cand += SECS_PER_MINUTE;
	}
	return DX_CRON_NEVER;
}

/*
 * The first fire time after an instant: DX_CRON_NEVER when there is none (a cron
 * expression that matches no date within DX_CRON_SEARCH_YEARS, e.g. 30 2 31 2 *,
 * or beyond the range of timestamptz).  anchor: the start of @every.
 */
TimestampTz
DxCronNext(const DxCron *cron, pg_tz *tz, TimestampTz anchor, TimestampTz after)
{
	int64		k,
				t;

	if (!cron->every)
		return CronNext(cron, tz, after);
	k = after < anchor ? 1 : (after - anchor) / cron->every_us + 1;
	if (pg_mul_s64_overflow(k, cron->every_us, &t) || pg_add_s64_overflow(anchor, t, &t) ||
		!IS_VALID_TIMESTAMP(t))
		return DX_CRON_NEVER;
	return t;
}

/*
 * The latest fire time that is not after now, given the earliest one not
 * yet fired (first_due <= now): the one run a schedule starts after
 * downtime.  A cron expression is searched from a day before now first,
 * so a dense one does not walk through a long downtime minute by minute.
 */
TimestampTz
DxCronLatestDue(const DxCron *cron, pg_tz *tz, TimestampTz anchor, TimestampTz first_due, TimestampTz now)
{
	TimestampTz t,
				n;

	if (cron->every)
	{
		int64		k = now < anchor ? 0 : (now - anchor) / cron->every_us;

		t = anchor + k * cron->every_us;
		return t < first_due ? first_due : t;
	}
	t = first_due;
	if (now - first_due > 26 * USECS_PER_HOUR)
	{
		n = CronNext(cron, tz, now - 26 * USECS_PER_HOUR);
		if (n != DX_CRON_NEVER && n <= now)
			t = n;
	}
	while ((n = CronNext(cron, tz, t)) != DX_CRON_NEVER && n <= now)
		t = n;
	return t;
}

/* an instant as UTC ISO 8601 to the millisecond: 2026-12-01T02:00:00.000Z */
char *
DxCronFormatUtc(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					(int) (fsec / 1000));
}

PG_FUNCTION_INFO_V1(duroxide_schedule_next_runs);

/*
 * SQL: duroxide._schedule_next_runs(schedule, time_zone, after, n, anchor)
 * The next n fire times after an instant (tests of this file; not
 * executable by PUBLIC).
 */
Datum
duroxide_schedule_next_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DxCron		cron;
	pg_tz	   *tz;
	TimestampTz after;
	TimestampTz anchor;
	int32		n;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule, time zone, start and count must not be null")));
	DxCronParse(TextDatumGetCString(PG_GETARG_DATUM(0)), &cron);
	tz = DxCronTimeZone(TextDatumGetCString(PG_GETARG_DATUM(1)));
	after = PG_GETARG_TIMESTAMPTZ(2);
	n = PG_GETARG_INT32(3);
	anchor = PG_ARGISNULL(4) ? after : PG_GETARG_TIMESTAMPTZ(4);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (int i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		after = DxCronNext(&cron, tz, anchor, after);
		if (after == DX_CRON_NEVER)
			break;
		value = TimestampTzGetDatum(after);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
