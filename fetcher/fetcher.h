/*
 * agora-fetcher: fetches the URIs of a CommandInfo into a sandbox before
 * the agent starts the executor (the Mesos fetcher).
 *
 * Input: a JSON object, from the file named by the only argument (or
 * stdin when there is none):
 *
 *   {"uris": [URI...],            CommandInfo.uris of the executor and task
 *    "sandbox_directory": "/abs", where the files go
 *    "cache_directory": "/abs",   optional: the agent's cache
 *    "cache_size": 2147483648,    optional: bytes the cache may hold
 *    "user": "name",              optional: as root, files are given to it
 *    "timeout": 600,              optional: seconds per URI
 *    "stall_timeout": 60,         optional: seconds without progress
 *    "result_file": "/abs"}       optional: receives the error message
 *
 * A URI is the Mesos CommandInfo.URI: {"value", "executable", "extract"
 * (default true), "cache", "output_file"}. Values may be http://, https://
 * (libcurl; a response code outside 2xx is a failure), file:// or an
 * absolute path. `executable` makes the file 0755 and is never extracted;
 * `extract` unpacks .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2/.tbz2, .tar,
 * .zip and .gz into the sandbox (with tar, unzip, gzip), keeping the
 * archive; `output_file` names the result in the sandbox; `cache` keeps a
 * copy under the cache directory, keyed by the URI, evicting the least
 * recently used entries to stay within cache_size.
 *
 * Exit status 0 when everything was fetched; otherwise 1 (2 for bad input)
 * with "Failed to fetch '<uri>': <cause>" on stderr and in result_file.
 *
 * The pure parts (file names, archive types, cache keys and eviction)
 * live in parts.c so unit tests can include them.
 */
#ifndef AG_FETCHER_FETCHER_H
#define AG_FETCHER_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ag_fetcher_archive {
    AG_FETCHER_ARCHIVE_NONE = 0,
    AG_FETCHER_ARCHIVE_TAR = 1,
    AG_FETCHER_ARCHIVE_TAR_GZ = 2,
    AG_FETCHER_ARCHIVE_TAR_XZ = 3,
    AG_FETCHER_ARCHIVE_TAR_BZ2 = 4,
    AG_FETCHER_ARCHIVE_ZIP = 5,
    AG_FETCHER_ARCHIVE_GZ = 6, /* a single gzip'd file */
};

/* The archive type of a file name, from its extension (case-insensitive). */
enum ag_fetcher_archive ag_fetcher_archive_type(const char *name);
/* "tar.gz", ... for messages. */
const char *ag_fetcher_archive_name(enum ag_fetcher_archive type);

enum ag_fetcher_scheme {
    AG_FETCHER_SCHEME_BAD = 0,
    AG_FETCHER_SCHEME_HTTP = 1, /* http and https */
    AG_FETCHER_SCHEME_FILE = 2, /* file:// and absolute paths */
};

/* What kind of URI `uri` is; for FILE, *ret_path points at the local path
 * inside uri. BAD with a message for other schemes and relative paths. */
enum ag_fetcher_scheme ag_fetcher_scheme(const char *uri, const char **ret_path, char *err,
                                         size_t errlen);

/* The file name a URI is saved under: the last path segment, without query
 * or fragment. -EINVAL when there is none (the URI ends in '/'). */
int ag_fetcher_basename(const char *uri, char *out, size_t outlen);

/* Whether an output_file is acceptable: relative, not empty, no ".."
 * component. */
bool ag_fetcher_output_file_ok(const char *name);

/* The cache key of a URI: 64 hex digits of its SHA-256. */
void ag_fetcher_cache_key(const char *uri, char out[65]);

struct ag_fetcher_cache_entry {
    char key[72];
    uint64_t size;
    double last_used; /* seconds; older = smaller */
};

/* Sorts the entries least recently used first (the entry `keep`, if any,
 * last) and returns k: removing entries [0, k) brings the total size down
 * to at most max_size, without ever counting `keep` as removable. */
size_t ag_fetcher_cache_plan(struct ag_fetcher_cache_entry *entries, size_t n, uint64_t max_size,
                             const char *keep);

#endif
