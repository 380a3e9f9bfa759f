/*-------------------------------------------------------------------------
 * activity.h
 *		Activity workers: claim activity attempts, run them, record results.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_ACTIVITY_H
#define DUROXIDE_ACTIVITY_H

#include "worker.h"

extern const DxWorkOps DxActivityWork;

#endif
