/* Command errors: a QMP error class and a description, as qemu-ga sends them. */
#ifndef QGA_ERROR_H
#define QGA_ERROR_H

#include <stdbool.h>

#define QGA_ERR_GENERIC		"GenericError"
#define QGA_ERR_NOT_FOUND	"CommandNotFound"

struct qga_error {
	const char	*cls;	/* NULL while no error is set */
	char		*desc;
};

/* Set a GenericError; the first error set wins. */
void	qga_error_set(struct qga_error *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	qga_error_set_class(struct qga_error *e, const char *cls,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like qemu's error_setg_errno: ": strerror(errnum)" is appended when
 * errnum is not 0. */
void	qga_error_set_errno(struct qga_error *e, int errnum, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
bool	qga_error_isset(const struct qga_error *e);
void	qga_error_clear(struct qga_error *e);

#endif
