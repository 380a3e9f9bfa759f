/*-------------------------------------------------------------------------
 * protocol.h
 *		The engine's vocabulary: the kinds of message in
 *		duroxide.orchestrator_queue.kind and of event in
 *		duroxide.history.event_type, as enums, and the one table that says
 *		for each message the event it records, the command it completes,
 *		whether a turn of it can be elided and who produces it.
 *
 * The stored names are spelled only in protocol.c.  Adding a message kind
 * is one row of its table (and, if a turn handles it specially, a case in
 * dispatch_effects.c ApplyMessages).  sql/60_protocol.sql checks the table
 * against the install script (duroxide._protocol()).
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_PROTOCOL_H
#define DUROXIDE_PROTOCOL_H

#include "postgres.h"

/* history event types; names are stored in duroxide.history.event_type */
typedef enum DxEventType
{
	EV_UNKNOWN = 0,
	EV_ORCHESTRATION_STARTED,
	EV_ORCHESTRATION_COMPLETED,
	EV_ORCHESTRATION_FAILED,
	EV_ORCHESTRATION_CANCELLED,
	EV_CONTINUED_AS_NEW,
	EV_ACTIVITY_SCHEDULED,		/* command */
	EV_ACTIVITY_COMPLETED,
	EV_ACTIVITY_FAILED,
	EV_ACTIVITY_ATTEMPT_FAILED,
	EV_TIMER_CREATED,			/* command */
	EV_TIMER_FIRED,
	EV_EVENT_SUBSCRIBED,		/* command */
	EV_EVENT_RAISED,
	EV_SUB_ORCHESTRATION_SCHEDULED, /* command */
	EV_SUB_ORCHESTRATION_COMPLETED,
	EV_SUB_ORCHESTRATION_FAILED,
	EV_DETACHED_STARTED,		/* command */
	EV_SYSTEM_CALL,				/* command */
	EV__COUNT
} DxEventType;

/* message kinds; names are stored in duroxide.orchestrator_queue.kind */
typedef enum DxMessageKind
{
	MSG_UNKNOWN = 0,
	MSG_EXECUTION_STARTED,
	MSG_ACTIVITY_COMPLETED,
	MSG_ACTIVITY_FAILED,
	MSG_TIMER_FIRED,
	MSG_EVENT_RAISED,
	MSG_SUB_ORCHESTRATION_COMPLETED,
	MSG_SUB_ORCHESTRATION_FAILED,
	MSG_CANCEL_REQUESTED,
	MSG__COUNT
} DxMessageKind;

/* who inserts a kind of message (a bit set) */
#define DX_BY_SQL			0x01	/* an install-script function (duroxide._create_instance) */
#define DX_BY_CLIENT		0x02	/* a client function (client.c) */
#define DX_BY_ACTIVITY		0x04	/* an activity worker (activity.c) */
#define DX_BY_DISPATCHER	0x08	/* a dispatcher's turn (dispatch_effects.c) */

/* one row of the message table */
typedef struct DxMessageInfo
{
	DxMessageKind kind;
	const char *name;			/* orchestrator_queue.kind */
	DxEventType records;		/* the history event applying it records */
	DxEventType completes;		/* the command it completes (EV_UNKNOWN: none) */
	bool		from_child;		/* applied only from the child its command created */
	bool		elidable;		/* a turn that only applies these may be elided */
	int			producers;		/* DX_BY_* */
} DxMessageInfo;

/* the key of a child's completion message that names the child */
#define DX_CHILD_ID_KEY "child_instance_id"

extern const DxMessageInfo *DxMessageInfoOf(DxMessageKind kind);
extern const char *DxMessageKindName(DxMessageKind kind);
extern DxMessageKind DxMessageKindFromName(const char *name);

extern const char *DxEventTypeName(DxEventType type);
extern DxEventType DxEventTypeFromName(const char *name);
extern bool DxEventIsCommand(DxEventType type);
extern bool DxEventIsCompletion(DxEventType type);
extern const char *DxEventTaskKind(DxEventType type);

#endif
