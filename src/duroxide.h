/*-------------------------------------------------------------------------
 * duroxide.h
 *		Public C API of duroxide, for activities written in C.
 *
 * An activity in C is an ordinary SQL-callable function
 *		(ctx duroxide.activity_context, input jsonb) RETURNS jsonb
 * whose body hands the work to a callback that sees json-c values:
 *
 *		static struct json_object *
 *		add_one(const duroxide_activity_info *info, struct json_object *in,
 *				char *error, size_t errlen)
 *		{
 *			return json_object_new_int64(json_object_get_int64(in) + 1);
 *		}
 *
 *		PG_FUNCTION_INFO_V1(my_add_one);
 *		Datum my_add_one(PG_FUNCTION_ARGS)
 *		{ return duroxide_run_c_activity(fcinfo, add_one); }
 *
 * The callback returns a new json-c object (or NULL for SQL NULL) and
 * reports failure by writing a message into error; it must not raise
 * PostgreSQL errors while it holds json-c objects of its own.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_H
#define DUROXIDE_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/jsonb.h"

struct json_object;

/* SQLSTATE of an error raised by a C activity */
#define ERRCODE_DX_ACTIVITY_ERROR MAKE_SQLSTATE('D','X','1','0','0')

typedef struct duroxide_activity_info
{
	const char *instance_id;
	const char *activity_name;
	int			attempt;
} duroxide_activity_info;

typedef struct json_object *(*duroxide_c_activity) (const duroxide_activity_info *info,
													struct json_object *input,
													char *error, size_t errlen);

extern PGDLLEXPORT Datum duroxide_run_c_activity(FunctionCallInfo fcinfo, duroxide_c_activity fn);
extern PGDLLEXPORT struct json_object *duroxide_jsonb_to_json_c(Jsonb *value);
extern PGDLLEXPORT Jsonb *duroxide_json_c_to_jsonb(struct json_object *value);

#endif
