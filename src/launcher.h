/*-------------------------------------------------------------------------
 * launcher.h
 *		The launcher background worker.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_LAUNCHER_H
#define DUROXIDE_LAUNCHER_H

#include "postgres.h"

extern void DxRegisterLauncher(void);

extern PGDLLEXPORT void duroxide_launcher_main(Datum arg);

#endif
