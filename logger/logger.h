/*
 * agora-logger: keeps one output stream of a container (its stdout or its
 * stderr) in the sandbox, rotated by size, so that a chatty task cannot
 * fill the disk.
 *
 * The agent starts one logger per stream with the read end of a pipe as
 * its stdin; the executor and everything it starts write into the other
 * end. The logger writes <path>, and when that file reaches --max_size
 * bytes renames it to <path>.1 (shifting <path>.1 to <path>.2 and so on)
 * and starts a new <path>. At most --max_files files are kept in all (the
 * live one included): the oldest is removed. It exits at end of file, when
 * every process of the container is gone.
 *
 * The pure parts (size parsing, names, the rotation plan) live in rotate.c
 * so unit tests can include them.
 */
#ifndef AG_LOGGER_LOGGER_H
#define AG_LOGGER_LOGGER_H

#include <stddef.h>
#include <stdint.h>

/* Parses a byte size: "1048576", "512B", "10KB", "10MB", "1GB" (binary
 * units, case-insensitive, optional space). 0 or -EINVAL. */
int ag_logger_parse_size(const char *text, uint64_t *ret_bytes);

/* The name of rotated file `index` of `base`: base itself for 0, else
 * "base.<index>". -ENAMETOOLONG when it does not fit in `out`. */
int ag_logger_rotated_name(const char *base, unsigned index, char *out, size_t outlen);

/* How many bytes of a chunk of `len` can go into the live file that holds
 * `current` bytes before it must rotate (max_size > 0). When the file is
 * already full this is 0: rotate first. */
size_t ag_logger_room(uint64_t current, uint64_t max_size, size_t len);

/* Rotates base: removes base.<max_files-1>, renames base.<i> to
 * base.<i+1> for every i from max_files-2 down to 1, then base to base.1.
 * With max_files 1 the live file is removed. Missing files are skipped.
 * 0 or -errno of the first rename that failed. */
int ag_logger_rotate(const char *base, unsigned max_files);

#endif
