/*-------------------------------------------------------------------------
 * cron.h
 *		Schedule expressions (five-field cron and @every <interval>): parsing
 *		and the computation of fire times in a time zone.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_CRON_H
#define DUROXIDE_CRON_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

/* a parsed schedule expression */
typedef struct DxCron
{
	bool		every;			/* @every <interval>: fixed elapsed time */
	int64		every_us;		/* its length in microseconds */
	uint64		minutes;		/* bit n set: minute n (0-59) */
	uint32		hours;			/* bit n: hour n (0-23) */
	uint32		days;			/* bit n: day of month n (1-31) */
	uint32		months;			/* bit n: month n (1-12) */
	uint32		weekdays;		/* bit n: day of week n (0 = Sunday - 6) */
	bool		days_star;		/* the day-of-month field starts with '*' */
	bool		weekdays_star;	/* the day-of-week field starts with '*' */
} DxCron;

/* the end of the search for a next fire time: none within this many years */
#define DX_CRON_SEARCH_YEARS 9

/* what the computations return for "no fire time" */
#define DX_CRON_NEVER DT_NOEND

extern void DxCronParse(const char *text, DxCron *cron);
extern pg_tz *DxCronTimeZone(const char *name);
extern TimestampTz DxCronNext(const DxCron *cron, pg_tz *tz, TimestampTz anchor, TimestampTz after);
extern TimestampTz DxCronLatestDue(const DxCron *cron, pg_tz *tz, TimestampTz anchor,
								   TimestampTz first_due, TimestampTz now);
extern char *DxCronFormatUtc(TimestampTz t);

#endif
