/* libqga reply objects: a received message and views into it. */
#include <stdlib.h>

#include "client-int.h"

struct qga_reply {
	json_t	*obj;
	json_t	*ret;
	json_t	*error;
};

struct qga_reply *
reply_new(json_t *obj)
{
	struct qga_reply *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->obj = json_incref(obj);
	r->ret = json_object_get(obj, "return");
	r->error = json_object_get(obj, "error");
	return r;
}

int
qga_reply_is_error(const struct qga_reply *r)
{
	return r->ret == NULL;
}

json_t *
qga_reply_return(const struct qga_reply *r)
{
	return r->ret;
}

/* An error reply's member as a string; "" when a confused agent sent
 * none or a non-string, so that callers may print it unchecked. */
static const char *
error_member(const struct qga_reply *r, const char *key)
{
	const char *s;

	if (r->ret)
		return NULL;
	s = json_string_value(json_object_get(r->error, key));
	return s ? s : "";
}

const char *
qga_reply_error_class(const struct qga_reply *r)
{
	return error_member(r, "class");
}

const char *
qga_reply_error_desc(const struct qga_reply *r)
{
	return error_member(r, "desc");
}

json_t *
qga_reply_json(const struct qga_reply *r)
{
	return r->obj;
}

void
qga_reply_free(struct qga_reply *r)
{
	if (r == NULL)
		return;
	json_decref(r->obj);
	free(r);
}
