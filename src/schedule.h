/*-------------------------------------------------------------------------
 * schedule.h
 *		Schedules (recurring orchestrations): the client functions and the
 *		dispatcher's firing of due runs.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SCHEDULE_H
#define DUROXIDE_SCHEDULE_H

#include "postgres.h"

extern void DxScheduleTick(int slot, bool busy, long *sleep_ms);

#endif
