/* Deferred reply members (deferred.c): bytes encoded into the output at write time. */
#ifndef QGA_DEFERRED_H
#define QGA_DEFERRED_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Raw bytes encoded per piece written: 128 KiB of base64 (a multiple of 3,
 * so the pieces join into one encoding). */
#define DEFERRED_PIECE	(3 * 32 * 1024)

/* A member of a reply whose value is the base64 of data[0..len), written
 * when the reply goes out. The placeholder (a JSON string in the reply; we
 * hold a reference too) marks where. */
struct deferred {
	json_t		*placeholder;
	unsigned char	*data;
	size_t		 len;
	size_t		 pos;		/* bytes encoded so far */
};

void	deferred_free(struct deferred *d);
/* Give the placeholder its real value: for a reply that is not written
 * out by a client (agent_dispatch). 0, or -1 when out of memory. */
int	deferred_materialize(struct deferred *d);
/* Room deferred_next needs in its buffer. */
size_t	deferred_piece_len(void);
/* Length of the whole encoded text. */
size_t	deferred_text_len(const struct deferred *d);
/* Append the next piece of the encoding to out; 0, or -1 when out of
 * memory. Done when pos == len. */
int	deferred_next(struct deferred *d, struct buf *out);
/*
 * Write msg as jansson would, with the placeholder's string cut out: the
 * text up to and with its opening quote is appended to before, the rest
 * (from the closing quote) to after. 1 when the placeholder was found, 0
 * when msg does not hold it (all of msg is in before), -1 when out of
 * memory.
 */
int	deferred_dump(json_t *msg, struct deferred *def, struct buf *before,
	    struct buf *after);

#endif
