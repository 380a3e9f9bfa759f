/*-------------------------------------------------------------------------
 * activity.h
 *		Activity workers: claim activity attempts, run them, record results.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_ACTIVITY_H
#define DUROXIDE_ACTIVITY_H

#include "postgres.h"

extern void DxActivityRecover(int slot);
extern bool DxActivityBatch(int slot, long *sleep_ms);

#endif
