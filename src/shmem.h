/*-------------------------------------------------------------------------
 * shmem.h
 *		Shared-memory registry of duroxide workers and waiters; wake-ups.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SHMEM_H
#define DUROXIDE_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* kinds of worker: engine process (a slot of the registry holds one; worker.h) */
typedef enum DxWorkerKind
{
	DX_KIND_NONE = 0,
	DX_KIND_DISPATCHER,
	DX_KIND_ACTIVITY
} DxWorkerKind;

/* what a worker slot says it is doing, for the duroxide.workers view */
typedef enum DxWorkerState
{
	DX_STATE_STARTING = 0,
	DX_STATE_IDLE,
	DX_STATE_BUSY,
	DX_STATE_WAITING_EXTENSION,
	DX_STATE_WAITING_UPDATE
} DxWorkerState;

/* a database's extension, as its workers last found it (see shmem.c) */
typedef enum DxDbExtension
{
	DX_DBEXT_UNKNOWN = 0,		/* nobody looked since the entry was made */
	DX_DBEXT_PRESENT,
	DX_DBEXT_ABSENT
} DxDbExtension;

#define DX_WAKE_ORCHESTRATOR 0x01
#define DX_WAKE_WORKER 0x02

extern void DxShmemRequest(void);
extern void DxShmemStartup(void);
extern bool DxShmemAvailable(void);
extern int64 DxBootId(void);

/* room for a whole instance id given by a user (util.h DX_MAX_NAME_BYTES) */
#define DX_SLOT_INSTANCE_BYTES (1024 + 1)

/* a copy of one slot, for the duroxide.workers view */
typedef struct DxSlotInfo
{
	int			pid;
	Oid			dboid;
	int			index;			/* the worker's number in its database */
	DxWorkerKind kind;
	DxWorkerState state;
	char		instance[DX_SLOT_INSTANCE_BYTES];
	bool		instance_truncated; /* a longer (generated child) id: a prefix */
} DxSlotInfo;

extern int	DxSlotCount(void);
extern bool DxSlotRead(int slot, DxSlotInfo *info);
extern const char *DxWorkerStateName(DxWorkerState state);
extern void DxSlotAttach(int slot, DxWorkerKind kind, int index);
extern int	DxSlotLivePid(Oid dboid, int index);
extern bool DxSlotFree(int slot);
extern void DxSlotSetState(DxWorkerState state, const char *instance_id);
extern void DxSlotSetHolding(bool holding);
extern int	DxFreePeers(DxWorkerKind kind);

extern void DxRequestWake(int what);

/*
 * suspects: work delivered before whose delivery never committed (poison
 * accounting: above DxDispatcherWork in dispatcher.c); the gate below says
 * when one may exist, RunSuspect in worker.c runs them one at a time
 */
extern bool DxSuspectsPossible(DxWorkerKind kind, uint32 *epoch);
extern void DxSuspectsNoneAt(DxWorkerKind kind, uint32 epoch, TimestampTz reopen_at);
extern void DxSuspectsAppeared(DxWorkerKind kind);
extern void DxSuspectsPending(DxWorkerKind kind);
extern bool DxSuspectLockTry(void);
extern void DxSuspectLockRelease(void);
extern void DxRequestRegistryBump(void);
extern uint64 DxRegistryGeneration(void);
extern bool DxRegistryChangedInXact(void);
extern void DxRequestWaiterWake(const char *instance_id);
extern void DxWaiterRegister(const char *instance_id);
extern void DxRequestQueueWake(const char *task_queue);
extern void DxQueueWaiterRegister(const char *task_queue);
extern void DxWaiterUnregister(void);
extern bool DxWorkersRunning(Oid dboid);
extern void DxLauncherAttach(void);
extern bool DxLauncherRunning(void);

/* databases served by the launcher (see shmem.c, "Databases") */
extern bool DxDbTrack(Oid dboid);
extern void DxDbForget(Oid dboid);
extern DxDbExtension DxDbState(Oid dboid, uint32 *gen);
extern void DxDbReport(uint32 gen, DxDbExtension state);
extern int	DxTakeCreated(Oid *dboids, int max, bool *overflow);
extern void DxExtensionCreatedPending(void);
extern void DxInstallXactCallback(void);

#endif
