/*
 * A first touch of fresh anonymous memory costs a page fault per 4 KiB;
 * in a VM each is an exit to the hypervisor (bench/README.md measured
 * 1.5-300 us a page). A 16 MiB guest-file-write's request is 22 MB of
 * text, 5,500 faults, or 11 with huge pages. madvise rather than a mmap
 * of our own: the buffers stay ordinary malloc memory that the heap
 * reuses and trims (agent main.c), and any allocator may hand them out.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "hugepage.h"

void
hugepage_advise(void *p, size_t n)
{
	uintptr_t start, end;

	if (p == NULL || n < HUGEPAGE_MIN_BUFFER)
		return;
	start = ((uintptr_t)p + HUGEPAGE_SIZE - 1) & ~(uintptr_t)(HUGEPAGE_SIZE - 1);
	end = ((uintptr_t)p + n) & ~(uintptr_t)(HUGEPAGE_SIZE - 1);
	if (end > start)
		/* Only a hint: EINVAL where THP is not built in changes
		 * nothing the caller could act on. */
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}
