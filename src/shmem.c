/*-------------------------------------------------------------------------
 * shmem.c
 *		The shared-memory registry of duroxide processes, and wake-ups.
 *
 * Layout: one DxShared struct holding
 *	  - boot_id: a value that changes every time shared memory is
 *		(re)initialised, i.e. at postmaster start and after every crash
 *		restart.  Claims on queue rows are tagged with it, so a claim made
 *		before a crash is recognisably stale afterwards.
 *	  - slots[max_worker_processes]: one per dispatcher / activity worker of
 *		any database (a worker is a background worker, so there can never be
 *		more than max_worker_processes of them: the registry cannot fill up
 *		before the postmaster's own worker slots do).  A slot belongs to
 *		(database, index): the index is the worker's number in its database
 *		(dispatchers 0..N-1, activity workers N..N+M-1), the number its
 *		claims carry; DxSlotAttach refuses a second live process for the same
 *		pair.  A slot
 *		is written only by the process that owns it (DxSlotAttach at start,
 *		cleared by its on_shmem_exit callback); readers tolerate torn reads
 *		of state, read pid/procno under the spinlock, and read the instance
 *		id with its change count (odd while the owner writes it; a reader
 *		retries until it saw the same even count before and after copying),
 *		so a reader never sees a mix of two ids.
 *	  - waiters[]: one per PGPROC, indexed by pgprocno.  A backend inside
 *		wait_for_orchestration publishes its database and the hash of the
 *		instance id it waits for; a committing backend of the same database
 *		that made that instance terminal sets the waiter's latch.  A backend
 *		inside claim_tasks (external.c) publishes its database and the hash
 *		of its task queue the same way; a commit of that database that added
 *		a task to that queue sets its latch.  A false match of the hash only
 *		causes a spurious wake-up; another database's commit never wakes a
 *		waiter.
 *	  - dbs[max_worker_processes]: one per database the launcher serves (see
 *		"Databases" below): its suspect gate, suspect runner, registry
 *		generation and the state of its extension as the launcher needs it.
 *	  - created[]: databases whose CREATE EXTENSION duroxide committed since
 *		the launcher last looked (it starts their workers).
 *
 * Wake-up protocol: code that adds work calls DxRequestWake() /
 * DxRequestWaiterWake() during the transaction; only processes of the
 * committing backend's database are woken, and nothing is signalled until
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
#define DX_MAX_CREATED 64

/* one engine process */
typedef struct DxSlot
{
	pid_t		pid;
	int			procno;
	Oid			dboid;
	int			index;			/* the worker's number in its database */
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
	Oid			dboid;			/* written before hash */
} DxWaiter;

/*
 * One served database.  The gate, runner and generation were cluster-wide
 * before several databases could be served; each is about one database's
 * tables, so a database's workers must neither see another's suspects nor
 * close another's gate.
 */
typedef struct DxDb
{
	Oid			dboid;			/* InvalidOid: a free entry */
	/* bumped by each committed CREATE EXTENSION in the database */
	uint32		ext_gen;
	DxDbExtension ext_state;	/* as last reported at ext_gen */
	/* per kind: suspects may exist while epoch != cleared (see DxSuspects*) */
	pg_atomic_uint32 suspect_epoch[3];
	pg_atomic_uint32 suspect_cleared[3];
	pg_atomic_uint64 suspect_reopen_at[3];	/* TimestampTz; 0: never */
	/* pid of the process running a suspect (0: none); see DxSuspectLockTry */
	pg_atomic_uint32 suspect_runner;
	pg_atomic_uint64 registry_generation;	/* see DxRegistryGeneration */
} DxDb;

typedef struct DxShared
{
	slock_t		mutex;
	int64		boot_id;
	/* source of registry generations (see DxRegistryGeneration) */
	pg_atomic_uint64 registry_generation;
	/* pid of a process running a suspect of a database without entry */
	pg_atomic_uint32 suspect_runner;
	/* pid and pgprocno of the launcher while it runs (0: none) */
	pg_atomic_uint32 launcher_pid;
	int			launcher_procno;
	/* CREATE EXTENSION commits not yet seen by the launcher (mutex) */
	int			ncreated;
	bool		created_overflow;
	Oid			created[DX_MAX_CREATED];
	int			nslots;
	int			ndbs;
	int			nwaiters;
	DxWaiter	waiters[FLEXIBLE_ARRAY_MEMBER];
} DxShared;

static DxShared *dx_shared = NULL;
static DxSlot *dx_slots = NULL;	/* [nslots], after the waiters */
static DxDb *dx_dbs = NULL;		/* [ndbs], after the slots */
static int	my_slot = -1;
static DxDb *my_db = NULL;		/* cached entry of MyDatabaseId (see MyDb) */

/* wake-ups requested by the current transaction */
static int	pending_wake = 0;
static bool pending_registry_bump = false;
static int	pending_suspects = 0;	/* bit per DxWorkerKind */
static uint32 pending_waiters[DX_MAX_PENDING_WAITERS];
static int	npending_waiters = 0;
static bool pending_waiters_overflow = false;
static bool pending_extension_created = false;
static bool xact_callback_installed = false;

/* registry sizes: one slot and one database entry per possible worker */
#define DX_NSLOTS Max(max_worker_processes, 1)

/* bytes of the waiters array */
static Size
DxWaitersSize(void)
{
	return MAXALIGN(add_size(offsetof(DxShared, waiters),
							 mul_size(MaxBackends + NUM_AUXILIARY_PROCS, sizeof(DxWaiter))));
}

static Size
DxShmemSize(void)
{
	return add_size(add_size(DxWaitersSize(), MAXALIGN(mul_size(DX_NSLOTS, sizeof(DxSlot)))),
					mul_size(DX_NSLOTS, sizeof(DxDb)));
}

/* find the arrays after the waiters */
static void
DxShmemLayout(void)
{
	dx_slots = (DxSlot *) ((char *) dx_shared + DxWaitersSize());
	dx_dbs = (DxDb *) ((char *) dx_slots + MAXALIGN(mul_size(DX_NSLOTS, sizeof(DxSlot))));
}

/* initialise a database entry: gate open (a new entry may have suspects) */
static void
DxDbInit(DxDb *db, Oid dboid, uint64 generation)
{
	db->dboid = dboid;
	db->ext_gen = 0;
	db->ext_state = DX_DBEXT_UNKNOWN;
	for (int k = 0; k < 3; k++)
	{
		pg_atomic_init_u32(&db->suspect_epoch[k], 1);
		pg_atomic_init_u32(&db->suspect_cleared[k], 0);
		pg_atomic_init_u64(&db->suspect_reopen_at[k], 0);
	}
	pg_atomic_init_u32(&db->suspect_runner, 0);
	pg_atomic_init_u64(&db->registry_generation, generation);
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
		pg_atomic_init_u32(&dx_shared->suspect_runner, 0);
		pg_atomic_init_u32(&dx_shared->launcher_pid, 0);
		dx_shared->boot_id = (int64) GetCurrentTimestamp();
		dx_shared->nslots = DX_NSLOTS;
		dx_shared->ndbs = DX_NSLOTS;
		dx_shared->nwaiters = MaxBackends + NUM_AUXILIARY_PROCS;
		DxShmemLayout();
		for (i = 0; i < dx_shared->nwaiters; i++)
			pg_atomic_init_u32(&dx_shared->waiters[i].hash, 0);
		for (i = 0; i < dx_shared->nslots; i++)
			pg_atomic_init_u32(&dx_slots[i].instance_changes, 0);
		/* a new boot: every entry is free; a new entry's gate is open */
		for (i = 0; i < dx_shared->ndbs; i++)
			dx_dbs[i].dboid = InvalidOid;
	}
	else
		DxShmemLayout();
	LWLockRelease(AddinShmemInitLock);
}

/* the number of worker slots (max_worker_processes; 0 without shared memory) */
int
DxSlotCount(void)
{
	return dx_shared ? dx_shared->nslots : 0;
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

/* wake the launcher (it re-reads what changed) */
static void
DxWakeLauncher(void)
{
	if (dx_shared != NULL && pg_atomic_read_u32(&dx_shared->launcher_pid) != 0)
		SetLatch(&GetPGProcByNumber(dx_shared->launcher_procno)->procLatch);
}

/* the launcher says it runs (until it exits) */
void
DxLauncherAttach(void)
{
	if (dx_shared == NULL)
		return;
	dx_shared->launcher_procno = DxMyProcNumber();
	pg_write_barrier();
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
	dx_slots[my_slot].pid = 0;
	dx_slots[my_slot].kind = DX_KIND_NONE;
	SpinLockRelease(&dx_shared->mutex);
	my_slot = -1;
}

/*
 * Take ownership of a worker slot as worker number index of this database;
 * refused while another live process owns the slot or the same number in
 * the same database (the claims it holds carry that number).
 */
void
DxSlotAttach(int slot, DxWorkerKind kind, int index)
{
	DxSlot	   *s;

	if (dx_shared == NULL || slot < 0 || slot >= dx_shared->nslots)
		elog(ERROR, "duroxide: invalid worker slot %d", slot);
	s = &dx_slots[slot];
	SpinLockAcquire(&dx_shared->mutex);
	for (int i = 0; i < dx_shared->nslots; i++)
	{
		DxSlot	   *o = &dx_slots[i];
		pid_t		other = o->pid;

		if (other == 0 || other == MyProcPid)
			continue;
		if (i == slot || (o->dboid == MyDatabaseId && o->index == index))
		{
			SpinLockRelease(&dx_shared->mutex);
			elog(ERROR, "duroxide: worker slot %d (worker %d of database %u) is already taken by process %d",
				 slot, index, MyDatabaseId, (int) other);
		}
	}
	s->pid = MyProcPid;
	s->procno = DxMyProcNumber();
	s->dboid = MyDatabaseId;
	s->index = index;
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
	s = &dx_slots[my_slot];
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
	dx_slots[my_slot].holding = holding;
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
	for (int i = 0; i < dx_shared->nslots; i++)
	{
		DxSlot	   *s = &dx_slots[i];

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

	if (dx_shared == NULL || slot < 0 || slot >= dx_shared->nslots)
		return false;
	s = &dx_slots[slot];
	SpinLockAcquire(&dx_shared->mutex);
	info->pid = s->pid;
	info->dboid = s->dboid;
	info->index = s->index;
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
	for (i = 0; i < dx_shared->nslots && !found; i++)
		found = dx_slots[i].pid != 0 && dx_slots[i].dboid == dboid;
	SpinLockRelease(&dx_shared->mutex);
	return found;
}

/* the pid of the live worker number index of a database (0: none) */
int
DxSlotLivePid(Oid dboid, int index)
{
	int			pid = 0;

	if (dx_shared == NULL)
		return 0;
	SpinLockAcquire(&dx_shared->mutex);
	for (int i = 0; i < dx_shared->nslots && pid == 0; i++)
		if (dx_slots[i].pid != 0 && dx_slots[i].dboid == dboid &&
			dx_slots[i].index == index)
			pid = dx_slots[i].pid;
	SpinLockRelease(&dx_shared->mutex);
	return pid;
}

/* true when no live process owns the slot */
bool
DxSlotFree(int slot)
{
	bool		free;

	if (dx_shared == NULL || slot < 0 || slot >= dx_shared->nslots)
		return false;
	SpinLockAcquire(&dx_shared->mutex);
	free = dx_slots[slot].pid == 0;
	SpinLockRelease(&dx_shared->mutex);
	return free;
}

/* ------------------------------------------------------------------------
 * Databases
 *
 * The launcher gives every database it starts workers for an entry
 * (DxDbTrack) and frees it when the database is gone (DxDbForget); there
 * are as many entries as worker slots, so a served database always has one.
 * A committed CREATE EXTENSION duroxide bumps its database's ext_gen, marks
 * it present and queues the database for the launcher (created[]); a
 * worker reports what it found (DxDbReport) with the ext_gen it read before
 * looking, and a report made stale by a CREATE EXTENSION in between is
 * ignored, so a DROP followed by a CREATE is never taken for a DROP.
 * ------------------------------------------------------------------------ */

/* the entry of a database (mutex held by the caller), or NULL */
static DxDb *
DxDbLookup(Oid dboid)
{
	for (int i = 0; i < dx_shared->ndbs; i++)
		if (dx_dbs[i].dboid == dboid)
			return &dx_dbs[i];
	return NULL;
}

/* the entry of MyDatabaseId, cached while it stays this database's */
static DxDb *
MyDb(void)
{
	if (dx_shared == NULL || !OidIsValid(MyDatabaseId))
		return NULL;
	if (my_db != NULL && my_db->dboid == MyDatabaseId)
		return my_db;
	SpinLockAcquire(&dx_shared->mutex);
	my_db = DxDbLookup(MyDatabaseId);
	SpinLockRelease(&dx_shared->mutex);
	return my_db;
}

/* the launcher serves a database: give it an entry (false: no entry free) */
bool
DxDbTrack(Oid dboid)
{
	DxDb	   *db;
	uint64		generation;

	if (dx_shared == NULL)
		return false;
	SpinLockAcquire(&dx_shared->mutex);
	db = DxDbLookup(dboid);
	SpinLockRelease(&dx_shared->mutex);
	if (db != NULL)
		return true;
	/* a value no cache of any database holds (see DxRegistryGeneration) */
	generation = pg_atomic_add_fetch_u64(&dx_shared->registry_generation, 1);
	SpinLockAcquire(&dx_shared->mutex);
	db = DxDbLookup(dboid);
	if (db == NULL && (db = DxDbLookup(InvalidOid)) != NULL)
		DxDbInit(db, dboid, generation);
	SpinLockRelease(&dx_shared->mutex);
	return db != NULL;
}

/* the launcher no longer serves a database (it is gone) */
void
DxDbForget(Oid dboid)
{
	DxDb	   *db;

	if (dx_shared == NULL)
		return;
	SpinLockAcquire(&dx_shared->mutex);
	if ((db = DxDbLookup(dboid)) != NULL)
		db->dboid = InvalidOid;
	SpinLockRelease(&dx_shared->mutex);
}

/* the state of a database's extension as last reported, and its ext_gen */
DxDbExtension
DxDbState(Oid dboid, uint32 *gen)
{
	DxDb	   *db;
	DxDbExtension state = DX_DBEXT_UNKNOWN;

	if (gen)
		*gen = 0;
	if (dx_shared == NULL)
		return state;
	SpinLockAcquire(&dx_shared->mutex);
	if ((db = DxDbLookup(dboid)) != NULL)
	{
		state = db->ext_state;
		if (gen)
			*gen = db->ext_gen;
	}
	SpinLockRelease(&dx_shared->mutex);
	return state;
}

/* a worker found its database's extension present or absent (read gen first) */
void
DxDbReport(uint32 gen, DxDbExtension state)
{
	DxDb	   *db = MyDb();
	bool		changed = false;

	if (db == NULL)
		return;
	SpinLockAcquire(&dx_shared->mutex);
	if (db->dboid == MyDatabaseId && db->ext_gen == gen && db->ext_state != state)
	{
		db->ext_state = state;
		changed = true;
	}
	SpinLockRelease(&dx_shared->mutex);
	if (changed)
		DxWakeLauncher();
}

/* the databases whose CREATE EXTENSION committed since the last call */
int
DxTakeCreated(Oid *dboids, int max, bool *overflow)
{
	int			n;

	if (dx_shared == NULL)
		return 0;
	SpinLockAcquire(&dx_shared->mutex);
	n = Min(dx_shared->ncreated, max);
	memcpy(dboids, dx_shared->created, n * sizeof(Oid));
	*overflow = dx_shared->created_overflow || n < dx_shared->ncreated;
	dx_shared->ncreated = 0;
	dx_shared->created_overflow = false;
	SpinLockRelease(&dx_shared->mutex);
	return n;
}

/* CREATE EXTENSION duroxide committed in this database: tell the launcher */
static void
DxExtensionCreated(void)
{
	DxDb	   *db;

	SpinLockAcquire(&dx_shared->mutex);
	if ((db = DxDbLookup(MyDatabaseId)) != NULL)
	{
		db->ext_gen++;
		db->ext_state = DX_DBEXT_PRESENT;
	}
	if (dx_shared->ncreated < DX_MAX_CREATED)
		dx_shared->created[dx_shared->ncreated++] = MyDatabaseId;
	else
		dx_shared->created_overflow = true;
	SpinLockRelease(&dx_shared->mutex);
	DxWakeLauncher();
}

/* the install script ran in this transaction: tell the launcher at commit */
void
DxExtensionCreatedPending(void)
{
	DxInstallXactCallback();
	pending_extension_created = true;
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
	DxDb	   *db;

	if (dx_shared == NULL)
		return false;
	/* a database without entry (not served by the launcher): always look */
	if ((db = MyDb()) == NULL)
	{
		*epoch = 0;
		return true;
	}
	*epoch = pg_atomic_read_u32(&db->suspect_epoch[kind]);
	if (*epoch != pg_atomic_read_u32(&db->suspect_cleared[kind]))
		return true;
	reopen = pg_atomic_read_u64(&db->suspect_reopen_at[kind]);
	return reopen != 0 && GetCurrentTimestamp() >= (TimestampTz) reopen;
}

/* no suspect was ready when epoch was read; the next becomes ready at reopen_at (0: none) */
void
DxSuspectsNoneAt(DxWorkerKind kind, uint32 epoch, TimestampTz reopen_at)
{
	DxDb	   *db = MyDb();

	if (db == NULL)
		return;
	pg_atomic_write_u64(&db->suspect_reopen_at[kind], (uint64) reopen_at);
	pg_atomic_write_u32(&db->suspect_cleared[kind], epoch);
}

/* suspects of this kind may exist (call after the commit that made them) */
void
DxSuspectsAppeared(DxWorkerKind kind)
{
	DxDb	   *db = MyDb();

	if (db != NULL)
		pg_atomic_fetch_add_u32(&db->suspect_epoch[kind], 1);
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
 * memory.  One per database: a suspect of one database never holds back
 * another's.
 */
static pg_atomic_uint32 *
SuspectRunner(void)
{
	DxDb	   *db = MyDb();

	return db ? &db->suspect_runner : &dx_shared->suspect_runner;
}

/* take the suspect gate of this database; false when another process has it */
bool
DxSuspectLockTry(void)
{
	uint32		expected = 0;

	if (dx_shared == NULL)
		return false;
	return pg_atomic_compare_exchange_u32(SuspectRunner(), &expected, (uint32) MyProcPid);
}

/* release the suspect gate if this process holds it */
void
DxSuspectLockRelease(void)
{
	uint32		expected = (uint32) MyProcPid;

	if (dx_shared == NULL)
		return;
	/* both: the entry may have appeared while this process held the other */
	(void) pg_atomic_compare_exchange_u32(&dx_shared->suspect_runner, &expected, 0);
	expected = (uint32) MyProcPid;
	if (MyDb() != NULL)
		(void) pg_atomic_compare_exchange_u32(&MyDb()->suspect_runner, &expected, 0);
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

/*
 * The current registry generation of this database (0 without shared
 * memory): its entry's, or for a database without entry the cluster-wide
 * counter, which every bump moves.  An entry starts at a value drawn from
 * that counter, so no cache filled before the entry existed matches it.
 */
uint64
DxRegistryGeneration(void)
{
	DxDb	   *db;

	if (dx_shared == NULL)
		return 0;
	db = MyDb();
	return pg_atomic_read_u64(db ? &db->registry_generation : &dx_shared->registry_generation);
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

/*
 * A non-zero hash of an external task queue of this database.  Queue
 * waiters share the waiter registry with instance waiters (a backend waits
 * for one thing at a time); a hash that matches the other kind by chance
 * only causes a spurious wake-up.
 */
static uint32
DxQueueHash(const char *task_queue)
{
	uint32		h = hash_bytes((const unsigned char *) task_queue, strlen(task_queue));

	h = hash_combine(h, hash_bytes_uint32((uint32) MyDatabaseId) ^ 0x7a51c0deU);
	return h ? h : 1;
}

/* before_shmem_exit: a backend that exits while waiting (FATAL) leaves no wait behind */
static void
ClearWaitAtExit(int code, Datum arg)
{
	DxWaiterUnregister();
}

/* publish what this backend waits for in its waiter cell */
static void
PublishWait(uint32 hash)
{
	static bool exit_callback_registered = false;

	if (dx_shared == NULL || MyProc == NULL || DxMyProcNumber() >= dx_shared->nwaiters)
		return;
	if (!exit_callback_registered)
	{
		before_shmem_exit(ClearWaitAtExit, (Datum) 0);
		exit_callback_registered = true;
	}
	/* the database first: a waker compares it once it sees the hash */
	dx_shared->waiters[DxMyProcNumber()].dboid = MyDatabaseId;
	pg_write_barrier();
	pg_atomic_write_u32(&dx_shared->waiters[DxMyProcNumber()].hash, hash);
	pg_memory_barrier();
}

/* ask for the claim_tasks waiters of a queue to be woken when this transaction commits */
void
DxRequestQueueWake(const char *task_queue)
{
	uint32		h = DxQueueHash(task_queue);

	DxInstallXactCallback();
	/* a fan-out adds many tasks to one queue: one entry is enough */
	for (int i = 0; i < npending_waiters; i++)
		if (pending_waiters[i] == h)
			return;
	if (npending_waiters < DX_MAX_PENDING_WAITERS)
		pending_waiters[npending_waiters++] = h;
	else
		pending_waiters_overflow = true;
}

/* this backend now waits in claim_tasks for a queue: publish it */
void
DxQueueWaiterRegister(const char *task_queue)
{
	PublishWait(DxQueueHash(task_queue));
}

/* this backend now waits for an instance: publish it */
void
DxWaiterRegister(const char *instance_id)
{
	PublishWait(DxInstanceHash(instance_id));
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
	{
		/* a new value of the shared counter: see DxRegistryGeneration */
		uint64		gen = pg_atomic_add_fetch_u64(&dx_shared->registry_generation, 1);
		DxDb	   *db = MyDb();

		if (db != NULL)
			pg_atomic_write_u64(&db->registry_generation, gen);
	}
	for (i = 0; i < 3; i++)
		if (pending_suspects & (1 << i))
			DxSuspectsAppeared((DxWorkerKind) i);
	if (pending_extension_created)
		DxExtensionCreated();
	if (pending_wake)
	{
		for (i = 0; i < dx_shared->nslots; i++)
		{
			DxSlot	   *s = &dx_slots[i];
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
			pg_read_barrier();
			if (dx_shared->waiters[i].dboid != MyDatabaseId)
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
	pending_extension_created = false;
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
