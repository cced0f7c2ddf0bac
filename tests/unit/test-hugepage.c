/* hugepage_advise() and buf.c's use of it, read back from the VmFlags
 * ("hg" = MADV_HUGEPAGE) of /proc/self/smaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "hugepage.h"

/* Whether the mapping holding addr carries the MADV_HUGEPAGE flag. */
static bool
advised(const void *addr)
{
	uintptr_t a = (uintptr_t)addr, lo, hi;
	char line[512];
	bool inside = false, hg = false, found = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		/* A mapping's first line; no field line parses as two hex
		 * numbers joined by a dash. */
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			hg = strstr(line, " hg") != NULL;
			found = true;
			break;
		}
	}
	fclose(f);
	assert_true(found);
	return hg;
}

/* Room for a buffer placed anywhere in a huge-page-aligned window of
 * npages huge pages; the window's own mapping is not advised. */
static char *
window(size_t npages, size_t *maplen, char **map)
{
	size_t len = (npages + 1) * HUGEPAGE_SIZE;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	*map = m;
	*maplen = len;
	return (char *)(((uintptr_t)m + HUGEPAGE_SIZE - 1) &
	    ~(uintptr_t)(HUGEPAGE_SIZE - 1));
}

static int
need_thp(void **state)
{
	(void)state;
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) < 0) {
		print_message("no THP in this kernel\n");
		skip();
	}
	return 0;
}

static void
below_the_minimum(void **state)
{
	size_t len;
	char *map, *w = window(4, &len, &map);

	(void)state;
	need_thp(NULL);
	hugepage_advise(w, HUGEPAGE_MIN_BUFFER - 1);
	assert_false(advised(w));
	assert_false(advised(w + HUGEPAGE_SIZE));
	munmap(map, len);
}

/* An unaligned buffer of exactly the minimum holds one whole huge page:
 * that one is advised, its ragged ends (not whole huge pages) are not. */
static void
at_the_minimum_only_whole_pages(void **state)
{
	size_t len;
	char *map, *w = window(4, &len, &map), *p = w + 4096;

	(void)state;
	need_thp(NULL);
	hugepage_advise(p, HUGEPAGE_MIN_BUFFER);
	assert_false(advised(p));
	assert_false(advised(w + HUGEPAGE_SIZE - 1));
	assert_true(advised(w + HUGEPAGE_SIZE));
	assert_true(advised(w + 2 * HUGEPAGE_SIZE - 1));
	assert_false(advised(w + 2 * HUGEPAGE_SIZE));
	assert_false(advised(p + HUGEPAGE_MIN_BUFFER - 1));
	munmap(map, len);
}

static void
aligned_buffer_all_pages(void **state)
{
	size_t len;
	char *map, *w = window(4, &len, &map);

	(void)state;
	need_thp(NULL);
	hugepage_advise(w, 3 * HUGEPAGE_SIZE);
	assert_true(advised(w));
	assert_true(advised(w + 3 * HUGEPAGE_SIZE - 1));
	assert_false(advised(w + 3 * HUGEPAGE_SIZE));
	munmap(map, len);
}

static void
null_is_ignored(void **state)
{
	(void)state;
	hugepage_advise(NULL, 8 * HUGEPAGE_SIZE);
}

/* buf.c: a buffer that grows to transfer size gets the hint (its middle
 * is then inside an advised mapping); a small one does not. */
static void
buf_grown_past_the_minimum(void **state)
{
	struct buf small = { 0 }, big = { 0 };

	(void)state;
	need_thp(NULL);
	assert_int_equal(buf_reserve(&small, 64 * 1024), 0);
	assert_false(advised(small.data + small.cap / 2));
	assert_int_equal(buf_reserve(&big, HUGEPAGE_MIN_BUFFER + HUGEPAGE_SIZE), 0);
	assert_true(big.cap >= HUGEPAGE_MIN_BUFFER);
	assert_true(advised(big.data + big.cap / 2));
	buf_free(&small);
	buf_free(&big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(below_the_minimum),
		cmocka_unit_test(at_the_minimum_only_whole_pages),
		cmocka_unit_test(aligned_buffer_all_pages),
		cmocka_unit_test(null_is_ignored),
		cmocka_unit_test(buf_grown_past_the_minimum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
