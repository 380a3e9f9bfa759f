/*-------------------------------------------------------------------------
 * shmem.c
 *		The shared-memory registry of duroxide processes, and wake-ups.
 *
 * Layout: one DxShared struct holding
 *	  - boot_id: a value that changes every time shared memory is
 *		(re)initialised, i.e. at postmaster start and after every crash
 *		restart.  Claims on queue rows are tagged with it, so a claim made
 *		before a crash is recognisably stale afterwards.
 *	  - slots[DX_MAX_WORKERS]: one per dispatcher / activity worker.  A slot
 *		is written only by the process that owns it (DxSlotAttach at start,
 *		cleared by its on_shmem_exit callback); readers tolerate torn reads
 *		of state, read pid/procno under the spinlock, and read the instance
 *		id with its change count (odd while the owner writes it; a reader
 *		retries until it saw the same even count before and after copying),
 *		so a reader never sees a mix of two ids.
 *	  - waiters[]: one per PGPROC, indexed by pgprocno.  A backend inside
 *		wait_for_orchestration publishes the hash of the instance id it waits
 *		for; a committing backend that made that instance terminal sets the
 *		waiter's latch.  A false match only causes a spurious wake-up.
 *
 * Wake-up protocol: code that adds work calls DxRequestWake() /
 * DxRequestWaiterWake() during the transaction; nothing is signalled until
 * the transaction commits (XactCallback), so no worker is woken to find
 * uncommitted work, and an aborted transaction wakes nobody.  Workers reset
 * their latch before looking for work, so a wake-up that races with a
 * worker going to sleep is never lost.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "util.h"

#include "shmem.h"

#define DX_MAX_PENDING_WAITERS 32

/* one engine process */
typedef struct DxSlot
{
	pid_t		pid;
	int			procno;
	Oid			dboid;
	DxWorkerKind kind;
	DxWorkerState state;
	bool		holding;		/* has claimed items it has not finished */
	pg_atomic_uint32 instance_changes;	/* odd while instance is written */
	bool		instance_truncated;
	char		instance[DX_SLOT_INSTANCE_BYTES];
} DxSlot;

StaticAssertDecl(DX_SLOT_INSTANCE_BYTES == DX_MAX_NAME_BYTES + 1,
				 "a worker slot holds a whole instance id");

/* one backend waiting in wait_for_orchestration */
typedef struct DxWaiter
{
	pg_atomic_uint32 hash;		/* 0: not waiting */
} DxWaiter;

typedef struct DxShared
{
	slock_t		mutex;
	int64		boot_id;
	pg_atomic_uint64 registry_generation;	/* see registry.c */
	/* per kind: suspects may exist while epoch != cleared (see DxSuspects*) */
	pg_atomic_uint32 suspect_epoch[3];
	pg_atomic_uint32 suspect_cleared[3];
	pg_atomic_uint64 suspect_reopen_at[3];	/* TimestampTz; 0: never */
	/* pid of the process running a suspect (0: none); see DxSuspectLockTry */
	pg_atomic_uint32 suspect_runner;
	/* pid of the launcher while it runs (0: none) */
	pg_atomic_uint32 launcher_pid;
	int			nwaiters;
	DxSlot		slots[DX_MAX_WORKERS];
	DxWaiter	waiters[FLEXIBLE_ARRAY_MEMBER];
} DxShared;

static DxShared *dx_shared = NULL;
static int	my_slot = -1;

/* wake-ups requested by the current transaction */
static int	pending_wake = 0;
static bool pending_registry_bump = false;
static int	pending_suspects = 0;	/* bit per DxWorkerKind */
static uint32 pending_waiters[DX_MAX_PENDING_WAITERS];
static int	npending_waiters = 0;
static bool pending_waiters_overflow = false;
static bool xact_callback_installed = false;

static Size
DxShmemSize(void)
{
	return add_size(offsetof(DxShared, waiters),
					mul_size(MaxBackends + NUM_AUXILIARY_PROCS, sizeof(DxWaiter)));
}

/* reserve our shared memory (from shmem_request_hook) */
void
DxShmemRequest(void)
{
	RequestAddinShmemSpace(DxShmemSize());
}

/* create or attach the shared struct (from shmem_startup_hook) */
void
DxShmemStartup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dx_shared = ShmemInitStruct("duroxide", DxShmemSize(), &found);
	if (!found)
	{
		int			i;

		memset(dx_shared, 0, DxShmemSize());
		SpinLockInit(&dx_shared->mutex);
		pg_atomic_init_u64(&dx_shared->registry_generation, 1);
		/* a new boot: claims of the last one may have left suspects */
		for (i = 0; i < 3; i++)
		{
			pg_atomic_init_u32(&dx_shared->suspect_epoch[i], 1);
			pg_atomic_init_u32(&dx_shared->suspect_cleared[i], 0);
			pg_atomic_init_u64(&dx_shared->suspect_reopen_at[i], 0);
		}
		pg_atomic_init_u32(&dx_shared->suspect_runner, 0);
		pg_atomic_init_u32(&dx_shared->launcher_pid, 0);
		dx_shared->boot_id = (int64) GetCurrentTimestamp();
		dx_shared->nwaiters = MaxBackends + NUM_AUXILIARY_PROCS;
		for (i = 0; i < dx_shared->nwaiters; i++)
			pg_atomic_init_u32(&dx_shared->waiters[i].hash, 0);
		for (i = 0; i < DX_MAX_WORKERS; i++)
			pg_atomic_init_u32(&dx_shared->slots[i].instance_changes, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* true when the library was preloaded and its shared memory exists */
bool
DxShmemAvailable(void)
{
	return dx_shared != NULL;
}

/* the identifier of this shared-memory lifetime (see file header) */
int64
DxBootId(void)
{
	return dx_shared ? dx_shared->boot_id : 0;
}

/* on_shmem_exit of the launcher */
static void
DxLauncherDetach(int code, Datum arg)
{
	if (dx_shared != NULL)
		pg_atomic_write_u32(&dx_shared->launcher_pid, 0);
}

/* the launcher says it runs (until it exits) */
void
DxLauncherAttach(void)
{
	if (dx_shared == NULL)
		return;
	pg_atomic_write_u32(&dx_shared->launcher_pid, (uint32) MyProcPid);
	on_shmem_exit(DxLauncherDetach, (Datum) 0);
}

/* true while a launcher runs (a crash reinitialises shared memory) */
bool
DxLauncherRunning(void)
{
	return dx_shared != NULL && pg_atomic_read_u32(&dx_shared->launcher_pid) != 0;
}

/* on_shmem_exit: free our slot (and the suspect gate, if we held it) */
static void
DxSlotDetach(int code, Datum arg)
{
	if (dx_shared == NULL || my_slot < 0)
		return;
	DxSuspectLockRelease();
	SpinLockAcquire(&dx_shared->mutex);
	dx_shared->slots[my_slot].pid = 0;
	dx_shared->slots[my_slot].kind = DX_KIND_NONE;
	SpinLockRelease(&dx_shared->mutex);
	my_slot = -1;
}

/* take ownership of a worker slot */
void
DxSlotAttach(int slot, DxWorkerKind kind)
{
	DxSlot	   *s;

	if (dx_shared == NULL || slot < 0 || slot >= DX_MAX_WORKERS)
		elog(ERROR, "duroxide: invalid worker slot %d", slot);
	s = &dx_shared->slots[slot];
	SpinLockAcquire(&dx_shared->mutex);
	if (s->pid != 0 && s->pid != MyProcPid)
	{
		pid_t		other = s->pid;

		SpinLockRelease(&dx_shared->mutex);
		elog(ERROR, "duroxide: worker slot %d is already taken by process %d", slot, (int) other);
	}
	s->pid = MyProcPid;
	s->procno = DxMyProcNumber();
	s->dboid = MyDatabaseId;
	s->kind = kind;
	s->state = DX_STATE_STARTING;
	s->holding = false;
	s->instance[0] = '\0';
	SpinLockRelease(&dx_shared->mutex);
	my_slot = slot;
	on_shmem_exit(DxSlotDetach, (Datum) 0);
}

/* publish what this worker is doing */
void
DxSlotSetState(DxWorkerState state, const char *instance_id)
{
	DxSlot	   *s;

	if (dx_shared == NULL || my_slot < 0)
		return;
	s = &dx_shared->slots[my_slot];
	s->state = state;
	pg_atomic_fetch_add_u32(&s->instance_changes, 1);	/* full barrier */
	if (instance_id)
		s->instance_truncated = strlcpy(s->instance, instance_id, sizeof(s->instance)) >= sizeof(s->instance);
	else
	{
		s->instance[0] = '\0';
		s->instance_truncated = false;
	}
	pg_atomic_fetch_add_u32(&s->instance_changes, 1);
}

/* publish whether this worker holds claimed items it has not finished */
void
DxSlotSetHolding(bool holding)
{
	if (dx_shared == NULL || my_slot < 0)
		return;
	dx_shared->slots[my_slot].holding = holding;
}

/*
 * The other workers of a kind in this database that could start an item
 * now: attached, looking for work or asleep, and holding no claimed items
 * (see spread.c).  Read without the lock: a torn read miscounts one batch.
 */
int
DxFreePeers(DxWorkerKind kind)
{
	int			n = 0;

	if (dx_shared == NULL)
		return 0;
	for (int i = 0; i < DX_MAX_WORKERS; i++)
	{
		DxSlot	   *s = &dx_shared->slots[i];

		if (i == my_slot || s->pid == 0 || s->dboid != MyDatabaseId || s->kind != kind)
			continue;
		if ((s->state == DX_STATE_IDLE || s->state == DX_STATE_BUSY) && !s->holding)
			n++;
	}
	return n;
}

/* copy a slot; false when it is free */
bool
DxSlotRead(int slot, DxSlotInfo *info)
{
	DxSlot	   *s;

	if (dx_shared == NULL || slot < 0 || slot >= DX_MAX_WORKERS)
		return false;
	s = &dx_shared->slots[slot];
	SpinLockAcquire(&dx_shared->mutex);
	info->pid = s->pid;
	info->dboid = s->dboid;
	info->kind = s->kind;
	info->state = s->state;
	SpinLockRelease(&dx_shared->mutex);
	/* the instance id: a consistent copy, or none after many tries */
	info->instance[0] = '\0';
	info->instance_truncated = false;
	for (int tries = 0; tries < 1000; tries++)
	{
		uint32		before = pg_atomic_read_u32(&s->instance_changes);

		if (before % 2 == 0)
		{
			pg_read_barrier();
			memcpy(info->instance, s->instance, sizeof(info->instance));
			info->instance_truncated = s->instance_truncated;
			pg_read_barrier();
			if (pg_atomic_read_u32(&s->instance_changes) == before)
				break;
		}
		info->instance[0] = '\0';
		info->instance_truncated = false;
	}
	info->instance[sizeof(info->instance) - 1] = '\0';
	return info->pid != 0;
}

/* the name of a worker state */
const char *
DxWorkerStateName(DxWorkerState state)
{
	switch (state)
	{
		case DX_STATE_STARTING:
			return "starting";
		case DX_STATE_IDLE:
			return "idle";
		case DX_STATE_BUSY:
			return "busy";
		case DX_STATE_WAITING_EXTENSION:
			return "waiting for CREATE EXTENSION";
		case DX_STATE_WAITING_UPDATE:
			return "waiting for ALTER EXTENSION UPDATE";
	}
	return "unknown";
}

/* true when some engine process is attached for the database */
bool
DxWorkersRunning(Oid dboid)
{
	int			i;
	bool		found = false;

	if (dx_shared == NULL)
		return false;
	SpinLockAcquire(&dx_shared->mutex);
	for (i = 0; i < DX_MAX_WORKERS && !found; i++)
		found = dx_shared->slots[i].pid != 0 && dx_shared->slots[i].dboid == dboid;
	SpinLockRelease(&dx_shared->mutex);
	return found;
}

/* a non-zero hash of an instance id */
static uint32
DxInstanceHash(const char *instance_id)
{
	uint32		h = hash_bytes((const unsigned char *) instance_id, strlen(instance_id));

	return h ? h : 1;
}

/* ask for workers of a kind to be woken when this transaction commits */
void
DxRequestWake(int what)
{
	DxInstallXactCallback();
	pending_wake |= what;
}

/*
 * Suspect gate.  Looking for suspects costs a query, and they exist only
 * after a crash, a stopped worker or an engine error, so workers look only
 * while the gate is open.  Whoever creates suspects calls
 * DxSuspectsAppeared() after its transaction committed (epoch + 1); a worker
 * that found none ready records the epoch it read *before* its query, and
 * when the suspects' work becomes visible (a timer of a suspect instance, a
 * delayed retry): the gate reopens then.  A suspect committed after the read
 * moved the epoch on, so the gate stays open.
 */
bool
DxSuspectsPossible(DxWorkerKind kind, uint32 *epoch)
{
	uint64		reopen;

	if (dx_shared == NULL)
		return false;
	*epoch = pg_atomic_read_u32(&dx_shared->suspect_epoch[kind]);
	if (*epoch != pg_atomic_read_u32(&dx_shared->suspect_cleared[kind]))
		return true;
	reopen = pg_atomic_read_u64(&dx_shared->suspect_reopen_at[kind]);
	return reopen != 0 && GetCurrentTimestamp() >= (TimestampTz) reopen;
}

/* no suspect was ready when epoch was read; the next becomes ready at reopen_at (0: none) */
void
DxSuspectsNoneAt(DxWorkerKind kind, uint32 epoch, TimestampTz reopen_at)
{
	if (dx_shared == NULL)
		return;
	pg_atomic_write_u64(&dx_shared->suspect_reopen_at[kind], (uint64) reopen_at);
	pg_atomic_write_u32(&dx_shared->suspect_cleared[kind], epoch);
}

/* suspects of this kind may exist (call after the commit that made them) */
void
DxSuspectsAppeared(DxWorkerKind kind)
{
	if (dx_shared != NULL)
		pg_atomic_fetch_add_u32(&dx_shared->suspect_epoch[kind], 1);
}

/* the current transaction leaves suspects of a kind: open the gate at commit */
void
DxSuspectsPending(DxWorkerKind kind)
{
	DxInstallXactCallback();
	pending_suspects |= 1 << kind;
}

/*
 * One suspect runs at a time (see dispatcher.c): the runner's pid in shared
 * memory, taken by compare-and-swap.  Only engine processes can take it (no
 * SQL-visible key that another role could hold); a runner that exits
 * releases it from its exit callback, and a crash reinitialises shared
 * memory.  Shared by every database of the cluster: suspects are rare.
 */
bool
DxSuspectLockTry(void)
{
	uint32		expected = 0;

	if (dx_shared == NULL)
		return false;
	return pg_atomic_compare_exchange_u32(&dx_shared->suspect_runner, &expected, (uint32) MyProcPid);
}

/* release the suspect gate if this process holds it */
void
DxSuspectLockRelease(void)
{
	uint32		expected = (uint32) MyProcPid;

	if (dx_shared != NULL)
		(void) pg_atomic_compare_exchange_u32(&dx_shared->suspect_runner, &expected, 0);
}

/* ask for the registry generation to move when this transaction commits */
void
DxRequestRegistryBump(void)
{
	DxInstallXactCallback();
	pending_registry_bump = true;
}

/* true when the current transaction changed the registry (not yet committed) */
bool
DxRegistryChangedInXact(void)
{
	return pending_registry_bump;
}

/* the current registry generation (0 without shared memory) */
uint64
DxRegistryGeneration(void)
{
	return dx_shared ? pg_atomic_read_u64(&dx_shared->registry_generation) : 0;
}

/* ask for the waiters of an instance to be woken when this transaction commits */
void
DxRequestWaiterWake(const char *instance_id)
{
	DxInstallXactCallback();
	if (npending_waiters < DX_MAX_PENDING_WAITERS)
		pending_waiters[npending_waiters++] = DxInstanceHash(instance_id);
	else
		pending_waiters_overflow = true;
}

/* this backend now waits for an instance: publish it */
void
DxWaiterRegister(const char *instance_id)
{
	if (dx_shared == NULL || MyProc == NULL || DxMyProcNumber() >= dx_shared->nwaiters)
		return;
	pg_atomic_write_u32(&dx_shared->waiters[DxMyProcNumber()].hash, DxInstanceHash(instance_id));
	pg_memory_barrier();
}

/* this backend no longer waits */
void
DxWaiterUnregister(void)
{
	if (dx_shared == NULL || MyProc == NULL || DxMyProcNumber() >= dx_shared->nwaiters)
		return;
	pg_atomic_write_u32(&dx_shared->waiters[DxMyProcNumber()].hash, 0);
}

/* set the latches the committed transaction asked for */
static void
DxDoWakeups(void)
{
	int			i;

	if (dx_shared == NULL)
		return;
	if (pending_registry_bump)
		pg_atomic_fetch_add_u64(&dx_shared->registry_generation, 1);
	for (i = 0; i < 3; i++)
		if (pending_suspects & (1 << i))
			DxSuspectsAppeared((DxWorkerKind) i);
	if (pending_wake)
	{
		for (i = 0; i < DX_MAX_WORKERS; i++)
		{
			DxSlot	   *s = &dx_shared->slots[i];
			int			kind = s->kind;
			bool		want;

			if (s->pid == 0 || s->dboid != MyDatabaseId)
				continue;
			want = (kind == DX_KIND_DISPATCHER && (pending_wake & DX_WAKE_ORCHESTRATOR)) ||
				(kind == DX_KIND_ACTIVITY && (pending_wake & DX_WAKE_WORKER));
			if (want)
				SetLatch(&GetPGProcByNumber(s->procno)->procLatch);
		}
	}
	if (npending_waiters > 0 || pending_waiters_overflow)
	{
		pg_memory_barrier();
		for (i = 0; i < dx_shared->nwaiters; i++)
		{
			uint32		h = pg_atomic_read_u32(&dx_shared->waiters[i].hash);
			int			j;

			if (h == 0)
				continue;
			for (j = 0; j < npending_waiters && !pending_waiters_overflow; j++)
				if (pending_waiters[j] == h)
					break;
			if (pending_waiters_overflow || j < npending_waiters)
				SetLatch(&GetPGProcByNumber(i)->procLatch);
		}
	}
}

/* forget requested wake-ups */
static void
DxResetPending(void)
{
	pending_wake = 0;
	pending_registry_bump = false;
	pending_suspects = 0;
	npending_waiters = 0;
	pending_waiters_overflow = false;
}

/* transaction callback: wake after commit, forget on abort */
static void
DxXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			DxDoWakeups();
			DxResetPending();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			DxResetPending();
			break;
		default:
			break;
	}
}

/* register the transaction callback once per backend */
void
DxInstallXactCallback(void)
{
	if (xact_callback_installed)
		return;
	RegisterXactCallback(DxXactCallback, NULL);
	xact_callback_installed = true;
}
