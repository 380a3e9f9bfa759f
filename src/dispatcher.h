/*-------------------------------------------------------------------------
 * dispatcher.h
 *		Orchestration dispatchers: claim instances, run turns, commit them.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_DISPATCHER_H
#define DUROXIDE_DISPATCHER_H

#include "worker.h"

extern const DxWorkOps DxDispatcherWork;

#endif
