/* A reader and writer for the GLib key-file format that qemu-ga's config and
 * state files use: [group] headers, key=value lines, # comments. */
#ifndef QGA_KEYFILE_H
#define QGA_KEYFILE_H

#include <stdbool.h>
#include <stdio.h>

struct keyfile;

/* Parse a file; NULL with *err (malloc'd, GLib's wording) on failure and
 * errno ENOENT for a missing file. */
struct keyfile	*keyfile_load(const char *path, char **err);
struct keyfile	*keyfile_parse(const char *text, char **err);
void		 keyfile_free(struct keyfile *kf);
/* The unescaped value of group/key, or NULL. */
const char	*keyfile_get(const struct keyfile *kf, const char *group,
		    const char *key);
/* 1 true, 0 false, -1 not a boolean (GLib accepts true/false/1/0). */
int		 keyfile_bool(const char *value);
/* Write "key=value\n" with GLib's escaping of the value. */
void		 keyfile_write_pair(FILE *out, const char *key, const char *value);

#endif
