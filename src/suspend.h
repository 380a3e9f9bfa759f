/*-------------------------------------------------------------------------
 * suspend.h
 *		Suspend and resume of orchestration instances (API.md 8.1).
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SUSPEND_H
#define DUROXIDE_SUSPEND_H

#include "postgres.h"

#include "utils/jsonb.h"

#define DX_STATUS_SUSPENDED "Suspended"

/*
 * The suspended instances, for the dispatchers' candidate window (a NOT IN
 * subquery: one hashed lookup per window, an index scan of
 * instances_status_idx that finds nothing when nothing is suspended).
 */
#define DX_SUSPENDED_INSTANCES \
	"SELECT s.instance_id FROM duroxide.instances s WHERE s.status = 'Suspended'"

/* Running or Suspended: the instance has not ended */
extern bool DxStatusLive(const char *status);

/*
 * cancel_orchestration of a live instance: resume it and every suspended
 * instance below it (same owner), and queue CancelRequested (data) for each
 * suspended descendant, so that the cancellation ends all of them.  Engine
 * rights inside; the caller checked the instance (owner).  Inside SPI.
 */
extern void DxResumeForCancel(const char *instance_id, Oid owner, const char *reason, Jsonb *data);

/* delete_instance: the suspension records of deleted instances ($1 text[]); inside SPI, as the engine */
extern void DxDeleteSuspensions(Datum ids);

#endif
