/*-------------------------------------------------------------------------
 * launcher.h
 *		The launcher background worker and the engine workers' main loop.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_LAUNCHER_H
#define DUROXIDE_LAUNCHER_H

#include "postgres.h"

extern void DxRegisterLauncher(void);

extern PGDLLEXPORT void duroxide_launcher_main(Datum arg);
extern PGDLLEXPORT void duroxide_worker_main(Datum arg);

#endif
