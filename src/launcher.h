/*-------------------------------------------------------------------------
 * launcher.h
 *		The launcher background worker, and which databases it serves.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_LAUNCHER_H
#define DUROXIDE_LAUNCHER_H

#include "postgres.h"

/* what the launcher tells a worker it starts (bgw_extra) */
typedef struct DxWorkerStart
{
	Oid			dboid;			/* the database to serve */
	int			index;			/* its number there: dispatchers first */
} DxWorkerStart;

extern void DxRegisterLauncher(void);
extern bool DxServeAllDatabases(void);
extern bool DxDatabaseConfigured(const char *dbname);

extern PGDLLEXPORT void duroxide_launcher_main(Datum arg);

#endif
