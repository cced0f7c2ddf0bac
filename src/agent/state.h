/* The state directory: qga.state (the file-handle counter) and the
 * qga.state.isfrozen marker, in qemu-ga's formats. */
#ifndef QGA_STATE_H
#define QGA_STATE_H

#include <stdbool.h>
#include <stdint.h>

#define QGA_STATE_FILE		"qga.state"
#define QGA_FROZEN_SUFFIX	".isfrozen"
#define QGA_FIRST_HANDLE	1000

struct qga_state {
	char	*path;		/* <statedir>/qga.state */
	char	*frozen_path;	/* <statedir>/qga.state.isfrozen */
	int64_t	 fd_counter;
};

int	qga_state_init(struct qga_state *st, const char *statedir);
/* Read the counter, creating the file when it is missing and create is
 * set (not while frozen). -1 with a message on stderr when unparsable. */
int	qga_state_load(struct qga_state *st, bool create);
/* Take the next handle and persist the counter; -1 if it cannot be written. */
int64_t	qga_state_next_handle(struct qga_state *st);
bool	qga_state_frozen_marker(const struct qga_state *st);
int	qga_state_set_frozen_marker(const struct qga_state *st, bool frozen);
void	qga_state_free(struct qga_state *st);

#endif
