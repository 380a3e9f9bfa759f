/*-------------------------------------------------------------------------
 * guc.h
 *		duroxide settings (defined in duroxide.c) and engine logging.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_GUC_H
#define DUROXIDE_GUC_H

#include "postgres.h"

typedef enum DxLogLevel
{
	DX_LOG_DEBUG = 0,
	DX_LOG_INFO,
	DX_LOG_WARN,
	DX_LOG_ERROR
} DxLogLevel;

extern char *duroxide_database;
extern int	duroxide_orchestration_concurrency;
extern int	duroxide_worker_concurrency;
extern int	duroxide_poll_interval;
extern int	duroxide_max_attempts;
extern int	duroxide_log_level;
extern int	duroxide_batch_size;
extern int	duroxide_max_payload_size;
extern int	duroxide_max_history_events;
extern int	duroxide_history_cache_size;	/* kB */

/* true when a line at this duroxide level is to be written */
#define DxLogEnabled(level) ((level) >= duroxide_log_level)

/* the server log level used for a duroxide level */
extern int	DxServerLevel(DxLogLevel level);

/* a level name (debug, info, warn, error) as a DxLogLevel; info if unknown */
extern DxLogLevel DxLogLevelFromName(const char *name);

#endif
