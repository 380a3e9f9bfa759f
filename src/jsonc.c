/*-------------------------------------------------------------------------
 * jsonc.c
 *		The C API for activities written in C (src/duroxide.h): json-c values
 *		in and out, converted from and to jsonb through their text form.
 *
 * json-c allocates with malloc.  Every json_object made here is released
 * before an error can escape (PG_TRY around user code, json_object_put in
 * both paths), so no json-c memory leaks through a longjmp.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/jsonb.h"

#include <json-c/json.h>

#include "duroxide.h"

/* from fmgrprotos.h, whose json_object() clashes with json-c's type */
extern Datum jsonb_in(PG_FUNCTION_ARGS);

/* a text datum as a C string */
static char *
TextToCString(Datum d)
{
	text	   *t = DatumGetTextPP(d);

	return pnstrdup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* a jsonb value as a new json-c object (NULL for SQL NULL) */
struct json_object *
duroxide_jsonb_to_json_c(Jsonb *value)
{
	char	   *text;
	struct json_object *obj;
	enum json_tokener_error jerr = json_tokener_success;

	if (value == NULL)
		return NULL;
	text = JsonbToCString(NULL, &value->root, VARSIZE(value));
	obj = json_tokener_parse_verbose(text, &jerr);
	pfree(text);
	if (jerr != json_tokener_success)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("duroxide: json-c cannot read this jsonb value for a C activity: %s",
						json_tokener_error_desc(jerr)),
				 errhint("json-c reads values nested at most %d levels deep.", JSON_TOKENER_DEFAULT_DEPTH)));
	return obj;
}

/* a json-c object as jsonb; the object is not released */
Jsonb *
duroxide_json_c_to_jsonb(struct json_object *value)
{
	const char *text = json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN);

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* run a C activity: the body of a SQL-callable activity function */
Datum
duroxide_run_c_activity(FunctionCallInfo fcinfo, duroxide_c_activity fn)
{
	struct json_object *volatile input = NULL;
	struct json_object *volatile output = NULL;
	char		error[1024] = "";
	Jsonb	   *volatile result = NULL;
	duroxide_activity_info info;
	HeapTupleHeader ctx;
	bool		isnull;
	Datum		d;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duroxide: the context argument of a C activity must not be null"),
				 errhint("C activities are called by the activity workers with their duroxide.activity_context.")));
	ctx = PG_GETARG_HEAPTUPLEHEADER(0);
	d = GetAttributeByNum(ctx, 1, &isnull);
	info.instance_id = isnull ? "" : TextToCString(d);
	d = GetAttributeByNum(ctx, 5, &isnull);
	info.activity_name = isnull ? "" : TextToCString(d);
	d = GetAttributeByNum(ctx, 7, &isnull);
	info.attempt = isnull ? 0 : DatumGetInt32(d);

	input = PG_ARGISNULL(1) ? NULL : duroxide_jsonb_to_json_c(PG_GETARG_JSONB_P(1));
	PG_TRY();
	{
		output = fn(&info, input, error, sizeof(error));
		if (output != NULL)
			result = duroxide_json_c_to_jsonb(output);
	}
	PG_FINALLY();
	{
		if (output != NULL && output != input)
			json_object_put(output);
		if (input != NULL)
			json_object_put(input);
	}
	PG_END_TRY();
	if (error[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_DX_ACTIVITY_ERROR),
				 errmsg("%s", error)));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

/*
 * An activity written against this API, shipped as an example and used by
 * the tests: returns {"input": <input>, "attempt": n, "via": "json-c"}, or
 * fails with the message in input->>'fail' when that key is present.
 */
static struct json_object *
ExampleActivity(const duroxide_activity_info *info, struct json_object *input,
				char *error, size_t errlen)
{
	struct json_object *out;
	struct json_object *fail;

	if (input != NULL && json_object_is_type(input, json_type_object) &&
		json_object_object_get_ex(input, "fail", &fail))
	{
		snprintf(error, errlen, "%s", json_object_get_string(fail));
		return NULL;
	}
	out = json_object_new_object();
	json_object_object_add(out, "input", input ? json_object_get(input) : NULL);
	json_object_object_add(out, "attempt", json_object_new_int(info->attempt));
	json_object_object_add(out, "via", json_object_new_string("json-c"));
	return out;
}

PG_FUNCTION_INFO_V1(duroxide_c_example_activity);

/* SQL: duroxide._c_example_activity(ctx, input) */
Datum
duroxide_c_example_activity(PG_FUNCTION_ARGS)
{
	return duroxide_run_c_activity(fcinfo, ExampleActivity);
}
