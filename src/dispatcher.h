/*-------------------------------------------------------------------------
 * dispatcher.h
 *		Orchestration dispatchers: claim instances, run turns, commit them.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_DISPATCHER_H
#define DUROXIDE_DISPATCHER_H

#include "postgres.h"

extern void DxDispatcherRecover(int slot);
extern bool DxDispatchBatch(int slot, long *sleep_ms);

/* transaction skeleton shared by the workers */
extern void DxBeginTxn(const char *what);
extern void DxCommitTxn(void);
extern long DxMsUntil(const char *sql);

#endif
