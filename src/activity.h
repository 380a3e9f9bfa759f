/*-------------------------------------------------------------------------
 * activity.h
 *		Activity workers: claim activity attempts, run them, record results.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_ACTIVITY_H
#define DUROXIDE_ACTIVITY_H

#include "utils/jsonb.h"

#include "worker.h"

extern const DxWorkOps DxActivityWork;

extern void DxRecordActivityOutcome(const char *instance_id, int32 execution_id, int64 activity_id,
									bool failed, Jsonb *data);
extern char *DxPoisonError(const char *name, int deliveries, const char *why);
extern char *DxTimeoutError(const char *name, int64 timeout_ms);

#endif
