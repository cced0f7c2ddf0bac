/* Transparent huge pages for the few buffers that hold a whole transfer. */
#ifndef QGA_HUGEPAGE_H
#define QGA_HUGEPAGE_H

#include <stddef.h>

/* The x86-64 and arm64 (4 KiB granule) PMD size: the unit THP maps. */
#define HUGEPAGE_SIZE		((size_t)2 << 20)
/* Buffers from this size on get the hint: smaller ones hold at most one
 * aligned huge page, not worth a system call and a VMA split. */
#define HUGEPAGE_MIN_BUFFER	(2 * HUGEPAGE_SIZE)

/*
 * Ask the kernel to back the huge-page-aligned interior of [p, p + n)
 * with huge pages when it is first touched (madvise MADV_HUGEPAGE; a
 * no-op below HUGEPAGE_MIN_BUFFER, and where THP is off). Only whole huge
 * pages inside the range are named, so the hint never reaches memory the
 * caller does not own. Pages already touched keep what they have.
 */
void	 hugepage_advise(void *p, size_t n);

#endif
